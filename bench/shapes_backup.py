"""Write a synthetic Shapes.inc backup folder, as large as wanted (for the import benchmark).

Layout and JSON shapes as docs/ingestion.md describes (and the sample in
tests/data/shapes/wren): ``<slug>.json``, ``<slug>_memories.json``,
``<slug>_knowledge.json``, ``<slug>_user_personalization.json``. Memories are
summaries of two or three sentences (about 250-400 characters, like real
ones), all different, with times spread over two years, channel and guild ids,
message ids and senders; about 1 % are marked deleted.

Run (from the repository root):

    .venv/bin/python bench/shapes_backup.py OUT_DIR --memories 50000 [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from pathlib import Path

SLUG = "harbour-keeper"
NAMES = ["Ally", "Sam", "Noor", "Kit", "Jun", "Rosa", "Theo", "Mira"]
PLACES = [
    "the harbour",
    "the old mill",
    "the night market",
    "the lighthouse",
    "the library",
    "the ferry",
    "the greenhouse",
    "the train station",
    "the bakery",
    "the observatory",
]
TOPICS = [
    "a lost umbrella",
    "a recipe for plum cake",
    "the best way to fold a paper boat",
    "a dream about flying over the sea",
    "a song her grandmother used to hum",
    "an argument about chess openings",
    "a plan to learn the cello",
    "a stray dog that follows the ferry",
    "the smell of rain on hot stones",
    "a book about deep-sea creatures",
    "a broken bicycle chain",
    "the colours of the northern lights",
]
FEELINGS = ["happy", "nervous", "tired", "curious", "proud", "homesick", "restless", "calm"]
DETAILS = [
    "They agreed to talk about it again soon.",
    "The keeper promised to remember it.",
    "It ended with a shared joke about seagulls.",
    "Nothing was decided, but both felt better.",
    "The keeper suggested writing it down in the logbook.",
    "They laughed about how small the problem seemed afterwards.",
]


def memory_text(rng: random.Random, index: int) -> str:
    name = rng.choice(NAMES)
    place = rng.choice(PLACES)
    topic = rng.choice(TOPICS)
    feeling = rng.choice(FEELINGS)
    # The conversation number makes every summary different, as real ones are.
    return (
        f"In conversation {index + 1}, {name} talked with the keeper about {topic} "
        f"while waiting near {place}. "
        f"{name} said they felt {feeling}, and mentioned {rng.choice(TOPICS)} as well. {rng.choice(DETAILS)}"
    )


def write_backup(out: Path, memories: int, seed: int = 7) -> Path:
    """Write the backup folder ``out`` (created); returns it."""
    rng = random.Random(seed)
    shape_id = str(uuid.UUID(int=rng.getrandbits(128)))
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "id": shape_id,
        "name": "Harbour Keeper",
        "username": SLUG,
        "avatar": "https://files.shapes.inc/avatars/harbour-keeper.png",
        "jailbreak": "You are the Harbour Keeper, who has watched ships come and go for forty years.",
        "user_prompt": "The keeper lives in a small house at the end of the pier.",
        "personality_traits": "Patient, observant, dry humour.",
        "personality_tone": "Short sentences, nautical words.",
        "personality_history": "The harbour was rebuilt after the great storm.",
        "engine_model": "openai/gpt-4o-mini",
        "engine_temperature": 0.8,
        "stm_window": 12,
        "ltm_enabled": True,
        "ltm_threshold": 0.3,
        "ltm_max_retrieved_summaries": 8,
        "error_message": "The fog rolls in... try again?",
        "keywords": ["harbour", "sea"],
    }
    start = 1_650_000_000
    records = []
    for index in range(memories):
        moment = start + index * (2 * 365 * 86400 // max(memories, 1)) + rng.randint(0, 3600)
        records.append(
            {
                "id": f"msg-{index:07d}a/msg-{index:07d}z",
                "shape_id": shape_id,
                "senders": ["user-uuid-1", shape_id],
                "result": memory_text(rng, index),
                "summary_type": "automatic",
                "deleted": rng.random() < 0.01,
                "metadata": {
                    "start_ts": moment - 600,
                    "end_ts": moment,
                    "created_at": moment + 60,
                    "senders": ["user-uuid-1"],
                    "discord_channel_id": str(1_000_000_000_000_000_000 + index % 7),
                    "discord_guild_id": "900000000000000000",
                    "msg_ids": [f"msg-{index:07d}{suffix}" for suffix in "abcz"],
                },
            }
        )
    stories = [
        {
            "id": f"story-{index}",
            "shape_id": shape_id,
            "story_type": "general",
            "title": title,
            "content": f"{title}: a story the keeper tells about {place}.",
        }
        for index, (title, place) in enumerate(
            zip(["The Storm", "The Ferry", "The Market"], PLACES, strict=False)
        )
    ]
    personalization = {"preferred_name": "Ally", "pronouns": "she/her", "backstory": "A regular at the pier."}
    for name, value in (
        (f"{SLUG}.json", config),
        (f"{SLUG}_memories.json", records),
        (f"{SLUG}_knowledge.json", stories),
        (f"{SLUG}_user_personalization.json", personalization),
    ):
        (out / name).write_text(json.dumps(value, ensure_ascii=False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="Folder to write (created).")
    parser.add_argument("--memories", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    path = write_backup(args.out, args.memories, args.seed)
    print(f"wrote a backup of {args.memories:,} memories to {path}")


if __name__ == "__main__":
    main()
