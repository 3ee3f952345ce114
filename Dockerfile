# The bot in a container: `docker build -t bedrock-slack-bot .`, then
#   docker run --env-file .env -p 3000:3000 bedrock-slack-bot          (HTTP mode, the default: /healthz)
#   docker run --env-file .env bedrock-slack-bot socket                (Socket Mode)
#   docker run --env-file .env bedrock-slack-bot doctor                (check the set-up)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PORT=3000
WORKDIR /app

# The dependencies in a layer of their own (rebuilt only when pyproject.toml changes), installed the README's
# way with an empty package in the bot's place; then the bot itself over it.
COPY pyproject.toml README.md LICENSE ./
RUN mkdir bot && touch bot/__init__.py && pip install '.[redis]' && rm -rf bot build
COPY bot ./bot
RUN pip install --no-deps --force-reinstall '.[redis]' && rm -rf build

# Never root: a user of its own, with nothing to write but its home
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin bot
USER 10001

EXPOSE 3000
# SIGTERM reaches the bot itself (exec form, no shell in between): replies in flight finish, then it exits 0
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["python", "-m", "bot"]
CMD ["http"]
