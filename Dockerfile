# One image for every service (web, worker, beat, bot); docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TZUROT_MODE=production
WORKDIR /app

COPY requirements.txt .
# torch from PyTorch's CPU index first: from PyPI it would bring CUDA (GBs) the
# embedding model does not need; the pinned version then counts as installed.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --system --uid 10001 tzurot && mkdir -p /app/var && chown tzurot /app/var
USER tzurot

EXPOSE 8000
CMD ["uvicorn", "tzurot_project.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--lifespan", "off"]
