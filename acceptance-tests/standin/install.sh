#!/bin/sh
# Stand-in for the K3s install script (get.k3s.io), written for terraform-provider-k3s's
# tests. It honours the documented contract of the real script that the provider relies on,
# on systemd hosts only:
#
#   curl -sfL <url>/install.sh | INSTALL_K3S_VERSION=v1.33.4+k3s1 GITHUB_URL=<mirror> sh -s - [server|agent] [flags]
#
# Variables: INSTALL_K3S_VERSION (required: release channels are not supported here),
# INSTALL_K3S_EXEC, INSTALL_K3S_SKIP_DOWNLOAD, INSTALL_K3S_SKIP_START, INSTALL_K3S_SKIP_ENABLE,
# INSTALL_K3S_FORCE_RESTART, INSTALL_K3S_BIN_DIR, INSTALL_K3S_BIN_DIR_READ_ONLY,
# INSTALL_K3S_SYSTEMD_DIR, INSTALL_K3S_NAME, INSTALL_K3S_TYPE, INSTALL_K3S_SYMLINK, GITHUB_URL,
# ARCH, K3S_URL, K3S_TOKEN, K3S_TOKEN_FILE, K3S_DATA_DIR; every K3S_*, CONTAINERD_* and proxy
# variable goes into the unit's environment file (mode 0600).
#
# It downloads $GITHUB_URL/download/<version>/k3s and checks it against the ` k3s` line of
# sha256sum-<arch>.txt, writes <unit>.service and <unit>.service.env, k3s-killall.sh and
# <unit>-uninstall.sh, links kubectl/crictl/ctr to k3s when those commands are not on PATH,
# and restarts the unit only when the binary, unit file or env file changed (or when forced).

set -e
set -o noglob

info() {
    echo "[INFO]  $*"
}

warn() {
    echo "[WARN]  $*" >&2
}

fatal() {
    echo "[ERROR] $*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Environment

if [ "$(id -u)" -eq 0 ]; then
    SUDO=
else
    SUDO=sudo
fi

case "${K3S_URL}" in
    "" | https://*) ;;
    *) fatal "K3S_URL must start with https:// (got '${K3S_URL}')" ;;
esac

# The command: INSTALL_K3S_EXEC (split on white space) followed by this script's arguments.
# shellcheck disable=SC2086
set -- ${INSTALL_K3S_EXEC} "$@"
case "$1" in
    "" | -*)
        if [ -n "${K3S_URL}" ]; then
            CMD_K3S=agent
            if [ -z "${K3S_TOKEN}" ] && [ -z "${K3S_TOKEN_FILE}" ]; then
                fatal "The command defaulted to 'agent' because K3S_URL is set, but neither K3S_TOKEN nor K3S_TOKEN_FILE is set"
            fi
        else
            CMD_K3S=server
        fi
        ;;
    *)
        CMD_K3S=$1
        shift
        ;;
esac

BIN_DIR=${INSTALL_K3S_BIN_DIR:-/usr/local/bin}
# A read-only /usr/local/bin (as on some immutable distributions) falls back to /opt/bin.
if [ -z "${INSTALL_K3S_BIN_DIR}" ] && [ -d /opt/bin ] &&
    ! ${SUDO} sh -c "touch '${BIN_DIR}/.k3s-write-test' && rm -f '${BIN_DIR}/.k3s-write-test'" 2>/dev/null; then
    BIN_DIR=/opt/bin
fi
SYSTEMD_DIR=${INSTALL_K3S_SYSTEMD_DIR:-/etc/systemd/system}
DATA_DIR=${K3S_DATA_DIR:-/var/lib/rancher/k3s}

if [ -n "${INSTALL_K3S_NAME}" ]; then
    SYSTEM_NAME=k3s-${INSTALL_K3S_NAME#k3s-}
elif [ "${CMD_K3S}" = server ]; then
    SYSTEM_NAME=k3s
else
    SYSTEM_NAME=k3s-${CMD_K3S}
fi
# Unit names hold letters, digits and -_.@ only.
SYSTEM_NAME=$(printf '%s' "${SYSTEM_NAME}" | tr -c 'A-Za-z0-9@._-' '-')
SERVICE_FILE=${SYSTEMD_DIR}/${SYSTEM_NAME}.service
ENV_FILE=${SYSTEMD_DIR}/${SYSTEM_NAME}.service.env
KILLALL_SH=${KILLALL_K3S_SH:-${BIN_DIR}/k3s-killall.sh}
UNINSTALL_SH=${UNINSTALL_K3S_SH:-${BIN_DIR}/${SYSTEM_NAME}-uninstall.sh}
SYSTEMD_TYPE=${INSTALL_K3S_TYPE:-notify}
GITHUB_URL=${GITHUB_URL:-https://github.com/k3s-io/k3s/releases}

if [ "${INSTALL_K3S_BIN_DIR_READ_ONLY}" = true ]; then
    INSTALL_K3S_SKIP_DOWNLOAD=true
    INSTALL_K3S_SYMLINK=skip
fi

# ---------------------------------------------------------------------------------------------
# Checks

if [ ! -d /run/systemd/system ]; then
    fatal "Can not find systemd (this stand-in installer supports systemd hosts only)"
fi

ARCH=${ARCH:-$(uname -m)}
case "${ARCH}" in
    amd64 | x86_64) ARCH=amd64; SUFFIX= ;;
    arm64 | aarch64) ARCH=arm64; SUFFIX=-arm64 ;;
    s390x) ARCH=s390x; SUFFIX=-s390x ;;
    arm*) ARCH=arm; SUFFIX=-armhf ;;
    *) fatal "Unsupported architecture ${ARCH}" ;;
esac

# ---------------------------------------------------------------------------------------------
# Download

TMP_DIR=
cleanup() {
    status=$?
    if [ -n "${TMP_DIR}" ]; then
        rm -rf "${TMP_DIR}"
    fi
    exit "${status}"
}
trap cleanup INT EXIT

installed_hashes() {
    # Missing files print an error line, which is just as stable as a hash.
    ${SUDO} sha256sum "${BIN_DIR}/k3s" "${SERVICE_FILE}" "${ENV_FILE}" 2>&1 || true
}

fetch() {
    case "${DOWNLOADER}" in
        curl) curl -sfL -o "$2" "$1" ;;
        wget) wget -q -O "$2" "$1" ;;
    esac || fatal "Download of $1 failed"
}

download_and_verify() {
    if [ -z "${INSTALL_K3S_VERSION}" ]; then
        if [ -n "${INSTALL_K3S_CHANNEL}" ] || [ -n "${INSTALL_K3S_COMMIT}" ] || [ -n "${INSTALL_K3S_PR}" ]; then
            fatal "Release channels, commits and PR builds are not supported by this stand-in installer: set INSTALL_K3S_VERSION"
        fi
        fatal "INSTALL_K3S_VERSION is required by this stand-in installer (release channels are not supported)"
    fi
    VERSION_K3S=${INSTALL_K3S_VERSION}
    if command -v curl >/dev/null 2>&1; then
        DOWNLOADER=curl
    elif command -v wget >/dev/null 2>&1; then
        DOWNLOADER=wget
    else
        fatal "Neither curl nor wget is available for downloading"
    fi
    TMP_DIR=$(mktemp -d -t k3s-install.XXXXXXXXXX)
    info "Using ${VERSION_K3S} as release"
    sums_url=${GITHUB_URL}/download/${VERSION_K3S}/sha256sum-${ARCH}.txt
    info "Downloading hash ${sums_url}"
    fetch "${sums_url}" "${TMP_DIR}/sums"
    HASH_EXPECTED=$(grep " k3s${SUFFIX}\$" "${TMP_DIR}/sums" | awk '{print $1}' | head -n 1)
    if [ -z "${HASH_EXPECTED}" ]; then
        fatal "sha256sum-${ARCH}.txt of ${VERSION_K3S} has no line for k3s${SUFFIX}"
    fi
    if [ -x "${BIN_DIR}/k3s" ]; then
        HASH_INSTALLED=$(${SUDO} sha256sum "${BIN_DIR}/k3s" | awk '{print $1}')
        if [ "${HASH_INSTALLED}" = "${HASH_EXPECTED}" ]; then
            info "Skipping binary download: the installed k3s matches hash ${HASH_EXPECTED}"
            return
        fi
    fi
    bin_url=${GITHUB_URL}/download/${VERSION_K3S}/k3s${SUFFIX}
    info "Downloading binary ${bin_url}"
    fetch "${bin_url}" "${TMP_DIR}/k3s"
    HASH_BIN=$(sha256sum "${TMP_DIR}/k3s" | awk '{print $1}')
    if [ "${HASH_BIN}" != "${HASH_EXPECTED}" ]; then
        fatal "Download sha256 does not match ${HASH_EXPECTED}, got ${HASH_BIN}"
    fi
    info "Installing k3s to ${BIN_DIR}/k3s"
    ${SUDO} mkdir -p "${BIN_DIR}"
    # Copy next to the target, then rename over it: a running k3s keeps its old file.
    ${SUDO} cp "${TMP_DIR}/k3s" "${BIN_DIR}/.k3s.new"
    ${SUDO} chmod 755 "${BIN_DIR}/.k3s.new"
    ${SUDO} chown root:root "${BIN_DIR}/.k3s.new"
    ${SUDO} mv -f "${BIN_DIR}/.k3s.new" "${BIN_DIR}/k3s"
}

PRE_INSTALL_HASHES=$(installed_hashes)

case "${INSTALL_K3S_SKIP_DOWNLOAD}" in
    true | binary)
        info "Skipping k3s download and verify"
        if [ ! -x "${BIN_DIR}/k3s" ]; then
            fatal "Executable k3s binary not found at ${BIN_DIR}/k3s"
        fi
        ;;
    *) download_and_verify ;;
esac

# ---------------------------------------------------------------------------------------------
# Links and helper scripts

if [ "${INSTALL_K3S_SYMLINK}" != skip ]; then
    for cmd in kubectl crictl ctr; do
        if [ -e "${BIN_DIR}/${cmd}" ] && [ "${INSTALL_K3S_SYMLINK}" != force ]; then
            info "Not linking ${BIN_DIR}/${cmd}: it already exists"
            continue
        fi
        found=$(command -v "${cmd}" 2>/dev/null || true)
        if [ -n "${found}" ] && [ "${INSTALL_K3S_SYMLINK}" != force ]; then
            info "Not linking ${BIN_DIR}/${cmd} to k3s: ${cmd} is already on PATH at ${found}"
            continue
        fi
        info "Linking ${BIN_DIR}/${cmd} to k3s"
        ${SUDO} ln -sf k3s "${BIN_DIR}/${cmd}"
    done
fi

if [ "${INSTALL_K3S_BIN_DIR_READ_ONLY}" != true ]; then
    info "Writing ${KILLALL_SH}"
    ${SUDO} tee "${KILLALL_SH}" >/dev/null <<EOF
#!/bin/sh
# Stops every k3s unit and ends any process still running the k3s binary.
# Written by the K3s stand-in installer.
[ "\$(id -u)" -eq 0 ] || exec sudo "\$0" "\$@"
for unit in ${SYSTEMD_DIR}/k3s*.service; do
    [ -s "\${unit}" ] && systemctl stop "\$(basename "\${unit}")"
done
for dir in /proc/[0-9]*; do
    exe=\$(readlink "\${dir}/exe" 2>/dev/null || true)
    case "\${exe}" in
        "${BIN_DIR}/k3s" | "${BIN_DIR}/k3s (deleted)") kill -9 "\${dir#/proc/}" 2>/dev/null || true ;;
    esac
done
rm -rf /run/k3s
exit 0
EOF
    ${SUDO} chmod 755 "${KILLALL_SH}"
    ${SUDO} chown root:root "${KILLALL_SH}"

    info "Writing ${UNINSTALL_SH}"
    ${SUDO} tee "${UNINSTALL_SH}" >/dev/null <<EOF
#!/bin/sh
# Uninstalls the ${SYSTEM_NAME} unit; when no other k3s unit remains, also k3s itself (binary,
# links, /etc/rancher/k3s and the data directory). /etc/rancher/node (the node password) stays.
# Written by the K3s stand-in installer.
[ "\$(id -u)" -eq 0 ] || exec sudo "\$0" "\$@"
set -x
remove_self() {
    rm -f "${UNINSTALL_SH}"
}
trap remove_self EXIT
"${KILLALL_SH}" || true
systemctl disable "${SYSTEM_NAME}" || true
systemctl reset-failed "${SYSTEM_NAME}" || true
rm -f "${SERVICE_FILE}" "${ENV_FILE}"
systemctl daemon-reload
if ls ${SYSTEMD_DIR}/k3s*.service >/dev/null 2>&1; then
    echo "Another k3s unit is still installed: keeping the k3s binary and its data"
    exit 0
fi
for cmd in kubectl crictl ctr; do
    if [ -L "${BIN_DIR}/\${cmd}" ] && [ "\$(readlink "${BIN_DIR}/\${cmd}")" = k3s ]; then
        rm -f "${BIN_DIR}/\${cmd}"
    fi
done
rm -rf /etc/rancher/k3s /run/k3s /run/flannel "${DATA_DIR}" /var/lib/kubelet
rm -f "${BIN_DIR}/k3s" "${KILLALL_SH}"
EOF
    ${SUDO} chmod 755 "${UNINSTALL_SH}"
    ${SUDO} chown root:root "${UNINSTALL_SH}"
fi

# ---------------------------------------------------------------------------------------------
# Unit and environment file

# The old unit goes first, so the files are always written anew.
${SUDO} systemctl disable "${SYSTEM_NAME}" >/dev/null 2>&1 || true
${SUDO} rm -f "${SERVICE_FILE}" "${ENV_FILE}"

# Quotes one argument for ExecStart: inside double quotes, escape \ and ", and double the
# characters systemd expands ($ and %).
quote_exec() {
    printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\$/$$/g' -e 's/%/%%/g')"
}

EXEC_LINE="${BIN_DIR}/k3s \\
    ${CMD_K3S}"
for arg in "$@"; do
    case "${arg}" in
        *"
"*) fatal "Arguments must not contain line breaks" ;;
    esac
    EXEC_LINE="${EXEC_LINE} \\
    $(quote_exec "${arg}")"
done

info "Writing environment file ${ENV_FILE}"
${SUDO} mkdir -p "${SYSTEMD_DIR}"
${SUDO} sh -c "umask 077; : > '${ENV_FILE}'"
${SUDO} chmod 600 "${ENV_FILE}"
for name in $(env | grep -E '^(K3S_[A-Za-z0-9_]*|CONTAINERD_[A-Za-z0-9_]*|HTTPS?_PROXY|https?_proxy|NO_PROXY|no_proxy)=' | cut -d= -f1 | sort -u); do
    eval "value=\${${name}}"
    # Single-quoted for systemd; a ' inside becomes '\''.
    quoted=$(printf '%s' "${value}" | sed -e "s/'/'\\\\''/g")
    printf "%s='%s'\n" "${name}" "${quoted}" | ${SUDO} tee -a "${ENV_FILE}" >/dev/null
done

info "Writing systemd unit ${SERVICE_FILE}"
${SUDO} tee "${SERVICE_FILE}" >/dev/null <<EOF
[Unit]
Description=K3s ${CMD_K3S} (test stand-in)
Documentation=https://docs.k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=${SYSTEMD_TYPE}
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-${ENV_FILE}
KillMode=process
Delegate=yes
User=root
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStart=${EXEC_LINE}
EOF
${SUDO} chmod 644 "${SERVICE_FILE}"

# ---------------------------------------------------------------------------------------------
# Enable and start

${SUDO} systemctl daemon-reload
if [ "${INSTALL_K3S_SKIP_ENABLE}" = true ]; then
    info "Skipping enable and start of ${SYSTEM_NAME}"
    exit 0
fi
info "Enabling ${SYSTEM_NAME} unit"
${SUDO} systemctl enable "${SYSTEM_NAME}" >/dev/null 2>&1

if [ "${INSTALL_K3S_SKIP_START}" = true ]; then
    info "Skipping start of ${SYSTEM_NAME}"
    exit 0
fi
POST_INSTALL_HASHES=$(installed_hashes)
if [ "${PRE_INSTALL_HASHES}" = "${POST_INSTALL_HASHES}" ] && [ "${INSTALL_K3S_FORCE_RESTART}" != true ]; then
    info "No change detected so skipping service start"
    exit 0
fi
info "Starting ${SYSTEM_NAME}"
${SUDO} systemctl restart "${SYSTEM_NAME}"
