// Files of the `create` scaffold. Placeholders: {{IMAGE_NAME}}, {{BASE_IMAGE}}. Scripts are POSIX sh so they
// run on any base with a shell (busybox included); the Containerfile uses only what `oci-s2i build-image`
// supports.

export interface TemplateFile {
  path: string;
  mode: number;
  text: string;
}

const dockerfile = `# {{IMAGE_NAME}}: an S2I builder image.
# Build it without a daemon:  oci-s2i build-image . {{IMAGE_NAME}}
FROM {{BASE_IMAGE}}

# TODO: say what this builder builds.
LABEL io.k8s.description="Platform for building {{IMAGE_NAME}} applications" \\
      io.k8s.display-name="{{IMAGE_NAME}}" \\
      io.openshift.expose-services="8080:http" \\
      io.openshift.tags="builder,{{IMAGE_NAME}}" \\
      io.openshift.s2i.scripts-url="image:///usr/libexec/s2i"

ENV HOME=/opt/app-root/src

# TODO: install what the builder needs, e.g.
# RUN microdnf install -y make && microdnf clean all

# The S2I scripts, where the scripts-url label above points.
COPY ./s2i/bin/ /usr/libexec/s2i

# Application directory, owned by the unprivileged user and group 0 (OpenShift runs with a random UID in group 0).
RUN mkdir -p /opt/app-root/src && chown -R 1001:0 /opt/app-root && chmod -R g+rwX /opt/app-root

WORKDIR /opt/app-root/src
USER 1001
EXPOSE 8080

CMD ["/usr/libexec/s2i/usage"]
`;

const assemble = `#!/bin/sh
# S2I assemble script for the '{{IMAGE_NAME}}' image: turns /tmp/src into a runnable application.
# https://github.com/openshift/source-to-image/blob/master/docs/builder_image.md
set -e

if [ "$1" = "-h" ]; then
  # Print usage when the image is run with -h.
  exec /usr/libexec/s2i/usage
fi

# Restore artifacts saved by save-artifacts in the previous build (incremental builds).
if [ -d /tmp/artifacts ] && [ -n "$(ls -A /tmp/artifacts 2>/dev/null)" ]; then
  echo "---> Restoring build artifacts..."
  cp -Rp /tmp/artifacts/. ./
fi

echo "---> Installing application source..."
cp -Rf /tmp/src/. ./

echo "---> Building application from source..."
# TODO: add the build steps of your platform, e.g. npm install, pip install, go build.
mkdir -p .cache
date > .cache/last-build
`;

const run = `#!/bin/sh
# S2I run script for the '{{IMAGE_NAME}}' image: the image's default command.
# TODO: start your application instead. busybox httpd serves the test application out of the box.
exec httpd -f -v -p "\${PORT:-8080}" -h /opt/app-root/src
`;

const usage = `#!/bin/sh
cat <<EOF
This is the {{IMAGE_NAME}} S2I builder image.
To build an application image from a source directory or git repository:

  oci-s2i build <source> {{IMAGE_NAME}} <application image>

To build again, reusing the artifacts of the previous image:

  oci-s2i build --incremental <source> {{IMAGE_NAME}} <application image>
EOF
`;

const saveArtifacts = `#!/bin/sh
# S2I save-artifacts script for the '{{IMAGE_NAME}}' image: writes a tar of what the next build may reuse
# to stdout. Nothing else may be written to stdout.
set -e
cd /opt/app-root/src
if [ -d .cache ]; then
  tar -cf - .cache
else
  # An empty tar archive: two 512-byte zero blocks.
  head -c 1024 /dev/zero
fi
`;

const testRun = `#!/bin/sh
# Tests the '{{IMAGE_NAME}}' builder with oci-s2i itself, with no container daemon and no registry to push to:
# builds the builder from ../Dockerfile (only its FROM image is pulled), runs its usage script, builds
# test/test-app with it twice (the second time incrementally, so save-artifacts and the restore in assemble
# run too), runs the application image, checks its page, then stops it and removes everything it made.
# Images stay in an oci-s2i store (--no-push), never in a registry.
#
#   OCI_S2I       the oci-s2i command (default: oci-s2i on PATH); must exec oci-s2i, so a stop reaches it
#   OCI_S2I_ROOT  oci-s2i store and cache to use (default: a temporary one, emptied and removed afterwards)
#   TEST_PORT     port the application listens on while it is checked (default: one from 20000-31999, or the
#                 next one that is free)
#   WORK_DIR      directory for the temporary files (default: a new one, removed afterwards)
set -eu

OCI_S2I=\${OCI_S2I:-oci-s2i}
test_dir=$(cd "$(dirname "$0")" && pwd)
image_dir=$(cd "$test_dir/.." && pwd)
cleanup_work=no
if [ -z "\${WORK_DIR:-}" ]; then
  WORK_DIR=$(mktemp -d)
  cleanup_work=yes
fi
prune_root=no
if [ -z "\${OCI_S2I_ROOT:-}" ]; then
  OCI_S2I_ROOT=$WORK_DIR/root
  prune_root=yes
fi
# Below the kernel's ephemeral range (32768-60999 by default), where no port-0 listener of another process lands.
port=\${TEST_PORT:-$((20000 + $$ % 12000))}
builder=localhost/s2i-test/builder:candidate
app=localhost/s2i-test/test-app:latest
run_pid=

fail() {
  echo "S2I image '{{IMAGE_NAME}}' test FAILED: $*" >&2
  exit 1
}

cleanup() {
  status=$?
  trap - EXIT INT TERM
  if [ -n "$run_pid" ]; then
    kill "$run_pid" 2>/dev/null || true
    wait "$run_pid" 2>/dev/null || true
  fi
  if [ "$prune_root" = yes ] && [ -d "$OCI_S2I_ROOT" ]; then
    # The store holds files owned by the sandbox's user IDs: only oci-s2i can remove them.
    $OCI_S2I cache prune --all -q --root "$OCI_S2I_ROOT" >/dev/null || echo "could not empty $OCI_S2I_ROOT" >&2
    rm -rf "$OCI_S2I_ROOT" || true
  fi
  if [ "$cleanup_work" = yes ]; then rm -rf "$WORK_DIR" || true; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Whether anything accepts connections on port $1 (an HTTP error or no HTTP at all counts too).
in_use() {
  rc=0
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null || rc=$?
    [ "$rc" -ne 7 ]
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 2 -O /dev/null "http://127.0.0.1:$1/" 2>/dev/null || rc=$?
    [ "$rc" -ne 4 ]
  else
    fail "curl or wget is needed to check the application's page"
  fi
}

# Prints the page at $1 (curl, else wget); fails when nothing answers.
fetch() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 5 "$1" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 5 -O - "$1" 2>/dev/null
  else
    fail "curl or wget is needed to check the application's page"
  fi
}

echo "---> Building the builder image"
$OCI_S2I build-image --root "$OCI_S2I_ROOT" --no-push "$image_dir" "$builder" >/dev/null || fail "build-image"

echo "---> Testing usage"
$OCI_S2I usage --root "$OCI_S2I_ROOT" --pull-policy never "$builder" >/dev/null || fail "usage"

echo "---> Building the test application"
$OCI_S2I build --root "$OCI_S2I_ROOT" --no-push --pull-policy never "$test_dir/test-app" "$builder" "$app" >/dev/null || fail "build"

echo "---> Building the test application again, incrementally"
$OCI_S2I build --root "$OCI_S2I_ROOT" --no-push --pull-policy never --incremental --incremental-pull-policy never \\
  "$test_dir/test-app" "$builder" "$app" >/dev/null || fail "incremental build"

# A port taken meanwhile (the application's log says so) moves the test to the next one, without TEST_PORT.
attempts=0
while :; do
  if in_use "$port"; then
    [ -z "\${TEST_PORT:-}" ] && [ "$attempts" -lt 20 ] || fail "port $port is in use; set TEST_PORT to a free port"
    attempts=$((attempts + 1))
    port=$((port + 1))
    continue
  fi
  echo "---> Running the test application on port $port"
  $OCI_S2I run --root "$OCI_S2I_ROOT" --pull-policy never -e "PORT=$port" "$app" >"$WORK_DIR/run.log" 2>&1 &
  run_pid=$!
  page=
  tries=0
  while [ "$tries" -lt 150 ]; do
    if ! kill -0 "$run_pid" 2>/dev/null; then
      wait "$run_pid" 2>/dev/null || true
      run_pid=
      break
    fi
    if page=$(fetch "http://127.0.0.1:$port/"); then break; fi
    page=
    tries=$((tries + 1))
    sleep 0.2 2>/dev/null || sleep 1
  done
  [ -z "$run_pid" ] || break
  if [ -z "\${TEST_PORT:-}" ] && [ "$attempts" -lt 20 ] && grep -qi "in use" "$WORK_DIR/run.log"; then
    attempts=$((attempts + 1))
    port=$((port + 1))
    continue
  fi
  cat "$WORK_DIR/run.log" >&2
  fail "the application stopped before it answered"
done
[ -n "$page" ] || fail "the application did not answer on port $port"
case "$page" in
  *"Hello from {{IMAGE_NAME}}"*) ;;
  *) fail "unexpected page: $page" ;;
esac

echo "---> Stopping the test application"
kill "$run_pid"
wait "$run_pid" || true
run_pid=

echo "S2I image '{{IMAGE_NAME}}' test PASSED"
`;

const makefile = `IMAGE_NAME = {{IMAGE_NAME}}
OCI_S2I ?= oci-s2i

.PHONY: build test
build:
\t$(OCI_S2I) build-image . $(IMAGE_NAME)

test:
\tOCI_S2I="$(OCI_S2I)" test/run
`;

const readme = `# {{IMAGE_NAME}}

An S2I builder image, scaffolded by \`oci-s2i create\`. No container daemon is needed anywhere.

| file | what it is |
| --- | --- |
| \`Dockerfile\` | the builder image; build it with \`oci-s2i build-image . {{IMAGE_NAME}}\` (or \`make build\`) |
| \`s2i/bin/assemble\` | builds the application from \`/tmp/src\` |
| \`s2i/bin/run\` | the application image's command |
| \`s2i/bin/save-artifacts\` | tar of what an incremental build reuses, on stdout |
| \`s2i/bin/usage\` | how to use the builder |
| \`test/run\` | builds the builder, builds and runs the test application, checks its page (\`make test\`) |
| \`test/test-app/\` | a tiny application for the test |

Build an application:

    oci-s2i build <source dir or git URL> {{IMAGE_NAME}} <application image>

Test the builder (needs only oci-s2i on PATH, and curl or wget; nothing is pushed, everything it made is
removed afterwards; \`OCI_S2I\`, \`OCI_S2I_ROOT\`, \`TEST_PORT\` and \`WORK_DIR\` are described in the script):

    test/run

Scripts can be overridden per application from the source's \`.s2i/bin/\`, and build environment set in
\`.s2i/environment\` (\`NAME=VALUE\` lines).
`;

const indexHtml = `<!doctype html>
<html>
  <head><title>{{IMAGE_NAME}} test application</title></head>
  <body><h1>Hello from {{IMAGE_NAME}}</h1></body>
</html>
`;

export const scaffoldFiles: readonly TemplateFile[] = [
  { path: 'Dockerfile', mode: 0o644, text: dockerfile },
  { path: 'Makefile', mode: 0o644, text: makefile },
  { path: 'README.md', mode: 0o644, text: readme },
  { path: 's2i/bin/assemble', mode: 0o755, text: assemble },
  { path: 's2i/bin/run', mode: 0o755, text: run },
  { path: 's2i/bin/usage', mode: 0o755, text: usage },
  { path: 's2i/bin/save-artifacts', mode: 0o755, text: saveArtifacts },
  { path: 'test/run', mode: 0o700, text: testRun },
  { path: 'test/test-app/index.html', mode: 0o644, text: indexHtml },
];
