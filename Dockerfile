# JupyterLab for the compose stack: the project installed, notebooks mounted, no root.
FROM python:3.11-slim

RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --shell /bin/bash fde

WORKDIR /home/fde/work
COPY --chown=fde:fde pyproject.toml README.md ./
COPY --chown=fde:fde fdelib ./fdelib
RUN pip install --no-cache-dir -e .
COPY --chown=fde:fde . .

USER fde
ENV FDE_HOME=/home/fde/.fde
EXPOSE 8888
CMD ["sh", "-c", "jupyter lab --ip=0.0.0.0 --port=8888 --no-browser --ServerApp.root_dir=/home/fde/work/notebooks --IdentityProvider.token=${JUPYTER_TOKEN:-fde}"]
