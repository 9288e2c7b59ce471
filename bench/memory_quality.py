"""Retrieval quality on the conversational memory evaluation in bench/memory_eval/.

Stores every turn of each conversation (plus the small-talk distractors of
``chatter.txt``) as memories of its own (personality, user) scope, through
``memory.services.memory_add_many`` with the local all-MiniLM-L6-v2 embedder,
then asks each question through ``memory.selectors`` and checks whether the
turns that answer it are among the first 5 and 10 results.

Compared: vector only, full text only, hybrid by reciprocal rank fusion
(several constants; the production default is ``RRF_K``), and the production
hybrid with the default similarity floor of a personality (0.3).
Queries are of two kinds: questions ("What is my dog's name?") and later
messages that mention something said before ("Biscuit stole a sandwich"), as
a recall query is the user's new message. recall@k = answer turns found in
the top k / answer turns, averaged over queries; hit@k = queries with at
least one answer turn in the top k; noise = memories returned (of 10) for
messages that no memory answers (``unrelated.txt``), which only a similarity
floor can lower.

Run (from the repository root; starts its own PostgreSQL unless DATABASE_URL is set):

    .venv/bin/python bench/memory_quality.py

Takes about a minute on 2 cores, most of it loading the model and embedding.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _memory_env import database, say, setup_django

EVAL_DIR = Path(__file__).resolve().parent / "memory_eval"


@dataclass
class Conversation:
    name: str
    user_name: str
    character: str
    turns: list[tuple[str, str, str]] = field(default_factory=list)  # (id, user, reply)
    questions: list[tuple[str, str, set[str]]] = field(default_factory=list)  # (kind, text, answers)


def parse(path: Path) -> Conversation:
    conversation = Conversation(path.stem, "", "")
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("=="):
            continue
        if line.startswith("user:"):
            conversation.user_name = line.split(":", 1)[1].strip()
        elif line.startswith("character:"):
            conversation.character = line.split(":", 1)[1].strip()
        elif line[0] in "?!":
            question, answers = line[1:].split("=>")
            kind = "question" if line[0] == "?" else "mention"
            conversation.questions.append((kind, question.strip(), {a.strip() for a in answers.split(",")}))
        else:
            turn_id, user, reply = (part.strip() for part in line.split("|"))
            conversation.turns.append((turn_id, user, reply))
    return conversation


def main() -> None:
    conversations = [
        parse(p) for p in sorted(EVAL_DIR.glob("*.txt")) if p.name not in ("chatter.txt", "unrelated.txt")
    ]
    chatter = parse(EVAL_DIR / "chatter.txt").turns
    with database(shared_buffers="256MB") as url:
        setup_django(url)
        from memory.embeddings import get_embedder
        from memory.selectors import (
            RRF_K,
            _scope,
            _similarities,
            fuse,
            search,
            text_candidates,
            vector_candidates,
        )
        from memory.services import memory_add_many
        from memory.tasks import exchange_text
        from personalities_app.models import Personality

        t0 = time.monotonic()
        embedder = get_embedder()
        say(f"embedder {embedder.name} loaded in {time.monotonic() - t0:.1f} s")
        scopes = []
        for n, conversation in enumerate(conversations):
            person = Personality.objects.create(slug=f"eval-{n}", name=conversation.character)
            user_id = str(900 + n)
            items = [
                {
                    "text": exchange_text(
                        user_name=conversation.user_name,
                        user_message=user,
                        character_name=conversation.character,
                        reply=reply,
                    ),
                    "source_id": turn_id,
                }
                for turn_id, user, reply in [*conversation.turns, *chatter]
            ]
            t0 = time.monotonic()
            stored = memory_add_many(personality=person, user_id=user_id, items=items)
            say(
                f"{conversation.name}: {stored} memories ({len(conversation.turns)} turns + {len(chatter)} "
                f"small talk) in {time.monotonic() - t0:.1f} s; {len(conversation.questions)} questions"
            )
            scopes.append((conversation, person, user_id))

        from memory.models import Memory

        turn_of = dict(Memory.objects.values_list("id", "source_id"))
        strategies = ["vector only", "full text only"] + [f"hybrid RRF k={k}" for k in (10, 30, 60, 100)]
        strategies += [f"hybrid RRF k=60, text weight {w}" for w in (0.5, 0.3)]
        strategies += ["production search (hybrid)"]
        strategies += [f"hybrid, floor {f} on all" for f in (0.2, 0.3)]
        strategies += [f"hybrid, floor {f} unless words match" for f in (0.2, 0.3)]
        strategies += ["production recall (floor 0.3)"]

        def rank(person: Personality, user_id: str, query: str) -> dict[str, list[int]]:
            scope = _scope(person, user_id)
            vector = embedder.embed([query])[0]
            by_vector = [pk for pk, _ in vector_candidates(scope, vector, 50, exact=True)]
            by_text = [pk for pk, _ in text_candidates(scope, query, 50, small=True)]
            rankings: dict[str, list[int]] = {"vector only": by_vector, "full text only": by_text}
            for k in (10, 30, 60, 100):
                scores = fuse([by_vector, by_text], k=k)
                rankings[f"hybrid RRF k={k}"] = sorted(scores, key=lambda pk, s=scores: (-s[pk], -pk))
            for w in (0.5, 0.3):
                scores = fuse([by_vector, by_text], k=60, weights=[1.0, w])
                rankings[f"hybrid RRF k=60, text weight {w}"] = sorted(
                    scores, key=lambda pk, s=scores: (-s[pk], -pk)
                )
            scores = fuse([by_vector, by_text], k=60)
            hybrid = sorted(scores, key=lambda pk, s=scores: (-s[pk], -pk))
            similarity = _similarities(hybrid, vector)
            worded = set(by_text)
            for f in (0.2, 0.3):
                rankings[f"hybrid, floor {f} on all"] = [pk for pk in hybrid if similarity.get(pk, -1) >= f]
                rankings[f"hybrid, floor {f} unless words match"] = [
                    pk for pk in hybrid if similarity.get(pk, -1) >= f or pk in worded
                ]
            hits = search(personality=person, user_id=user_id, query=query, k=10, query_vector=vector)
            rankings["production search (hybrid)"] = [hit.memory.pk for hit in hits]
            floored = search(
                personality=person, user_id=user_id, query=query, k=10, query_vector=vector, threshold=0.3
            )
            rankings["production recall (floor 0.3)"] = [hit.memory.pk for hit in floored]
            return rankings

        # found[strategy][kind][k]: per-query recall; hit likewise; noise[strategy]: memories returned
        # (of 10) for messages no memory answers.
        found: dict[str, dict[str, dict[int, list[float]]]] = {}
        hit: dict[str, dict[str, dict[int, list[float]]]] = {}
        noise: dict[str, list[int]] = {s: [] for s in strategies}
        unrelated = [
            line.strip()
            for line in (EVAL_DIR / "unrelated.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        for conversation, person, user_id in scopes:
            for kind, query, answers in conversation.questions:
                for strategy, ranking in rank(person, user_id, query).items():
                    for bucket in (kind, "all"):
                        for k in (5, 10):
                            top = {turn_of[pk] for pk in ranking[:k]}
                            found.setdefault(strategy, {}).setdefault(bucket, {}).setdefault(k, []).append(
                                len(top & answers) / len(answers)
                            )
                            hit.setdefault(strategy, {}).setdefault(bucket, {}).setdefault(k, []).append(
                                1.0 if top & answers else 0.0
                            )
            for query in unrelated:
                for strategy, ranking in rank(person, user_id, query).items():
                    noise[strategy].append(len(ranking[:10]))
        counts = {
            kind: sum(1 for c, _, _ in scopes for q in c.questions if kind in ("all", q[0]))
            for kind in ("question", "mention", "all")
        }
        print(
            f"\n== {counts['all']} queries ({counts['question']} questions, {counts['mention']} mentions) "
            f"over {len(scopes)} conversations; production RRF_K = {RRF_K} =="
        )
        print(
            f"{'strategy':38} {'all r@5':>8} {'r@10':>6} {'hit@5':>6} {'hit@10':>6} "
            f"{'quest r@5':>9} {'r@10':>6} {'mention r@5':>11} {'r@10':>6} {'noise':>6}"
        )
        for strategy in strategies:

            def mean(values: list[float]) -> float:
                return sum(values) / len(values)

            f = found[strategy]
            print(
                f"{strategy:38} {mean(f['all'][5]):8.3f} {mean(f['all'][10]):6.3f} "
                f"{mean(hit[strategy]['all'][5]):6.3f} {mean(hit[strategy]['all'][10]):6.3f} "
                f"{mean(f['question'][5]):9.3f} {mean(f['question'][10]):6.3f} "
                f"{mean(f['mention'][5]):11.3f} {mean(f['mention'][10]):6.3f} "
                f"{mean([float(n) for n in noise[strategy]]):6.1f}"
            )


if __name__ == "__main__":
    main()
