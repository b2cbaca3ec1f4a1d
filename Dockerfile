# MosPay behind waitress, as a non-root user, against an external PostgreSQL (DATABASE_URL required).
# Build: docker build -t mospay .     Run: see compose.yaml and docs/deploy.md
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MOSPAY_HOST=0.0.0.0 \
    MOSPAY_PORT=5000 \
    MOSPAY_DATA_DIR=/var/lib/mospay

WORKDIR /app
# Dependencies first: this layer is rebuilt only when requirements.txt changes. pgserver comes along
# for its bundled pg_dump/pg_restore 16 (python -m mospay backup inside the container).
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY run.py ./
COPY mospay ./mospay
COPY templates ./templates
COPY static ./static
COPY schema ./schema
COPY migrations ./migrations

RUN useradd --system --uid 10001 --home-dir /var/lib/mospay --shell /usr/sbin/nologin mospay \
 && mkdir -p /var/lib/mospay && chown mospay:mospay /var/lib/mospay
USER mospay
VOLUME ["/var/lib/mospay"]
EXPOSE 5000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MOSPAY_PORT', '5000') + '/readyz', timeout=4).status == 200 else 1)"]

# No embedded database in a container: refuse to start without DATABASE_URL, in one clear line.
CMD ["sh", "-c", "test -n \"$DATABASE_URL\" || { echo 'mospay: DATABASE_URL is required in the container' >&2; exit 2; }; exec python run.py"]
