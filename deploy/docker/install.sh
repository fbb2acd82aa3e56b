#!/bin/sh
# Used by the Dockerfile's build stages only (never shipped in an image).
#   install.sh deps <workspace package>   resolve the workspace with the exact pins of the root pyproject's
#                                         [tool.uv] constraint-dependencies (uv.lock is not committed) and
#                                         install that one package's third-party dependencies into /opt/venv
#   install.sh source <dir>...            install workspace packages from source, without dependencies
set -eu
VENV=${MEDIAJOBS_VENV:-/opt/venv}
case "$1" in
    deps)
        uv lock --quiet
        uv export --quiet --package "$2" --frozen --no-dev --no-hashes --no-emit-workspace --no-header --no-annotate \
            --format requirements-txt --output-file /tmp/requirements.txt
        uv venv --quiet "$VENV"
        uv pip install --quiet --python "$VENV/bin/python" --requirement /tmp/requirements.txt
        ;;
    source)
        shift
        uv pip install --quiet --python "$VENV/bin/python" --no-deps --compile-bytecode "$@"
        ;;
    *)
        echo "usage: install.sh deps <package> | install.sh source <dir>..." >&2
        exit 2
        ;;
esac
