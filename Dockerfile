# The ckn API (used by docker-compose.yml): pinned dependencies, then the project, run as a non-root user.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY ckn ./ckn
RUN pip install --no-cache-dir --no-deps . && useradd --create-home ckn
USER ckn
EXPOSE 8000
CMD ["ckn", "serve", "--host", "0.0.0.0", "--port", "8000"]
