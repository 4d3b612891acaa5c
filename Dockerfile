# syntax=docker/dockerfile:1
# Build a wheel in one stage, install it into a clean slim image in the next: no compilers,
# no pip cache and no source tree in the final layer.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY analytics ./analytics
COPY bot ./bot
COPY storage ./storage
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATABASE_URL=sqlite:////data/coach.db
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data --create-home coach
USER coach
WORKDIR /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status != 200)"
# `coach serve` migrates the database before it listens.
ENTRYPOINT ["coach"]
CMD ["serve", "--port", "3000"]
