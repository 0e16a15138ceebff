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
# Tests the '{{IMAGE_NAME}}' builder with oci-s2i itself, without a daemon or a registry: builds the builder
# into an OCI layout, runs its usage script, then builds the test application twice (the second time
# incrementally, so save-artifacts and the restore in assemble run too).
#
#   OCI_S2I   the oci-s2i command (default: oci-s2i)
#   WORK_DIR  where the OCI layout goes (default: a temporary directory, removed afterwards)
set -eu

OCI_S2I=\${OCI_S2I:-oci-s2i}
test_dir=$(cd "$(dirname "$0")" && pwd)
image_dir=$(cd "$test_dir/.." && pwd)
cleanup_work=no
if [ -z "\${WORK_DIR:-}" ]; then
  WORK_DIR=$(mktemp -d)
  cleanup_work=yes
fi
layout="$WORK_DIR/layout"
builder="oci:$layout:{{IMAGE_NAME}}-candidate"
app="oci:$layout:{{IMAGE_NAME}}-testapp"

cleanup() {
  if [ "$cleanup_work" = yes ]; then rm -rf "$WORK_DIR"; fi
}
trap cleanup EXIT

fail() {
  echo "S2I image '{{IMAGE_NAME}}' test FAILED: $*" >&2
  exit 1
}

echo "---> Building the builder image"
$OCI_S2I build-image "$image_dir" "$builder" || fail "build-image"

echo "---> Testing usage"
$OCI_S2I usage "$builder" >/dev/null || fail "usage"

echo "---> Building the test application"
$OCI_S2I build "$test_dir/test-app" "$builder" "$app" || fail "build"

echo "---> Building the test application again, incrementally"
$OCI_S2I build --incremental "$test_dir/test-app" "$builder" "$app" || fail "incremental build"

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
| \`test/run\` | builds the builder and the test application with oci-s2i (\`make test\`) |
| \`test/test-app/\` | a tiny application for the test |

Build an application:

    oci-s2i build <source dir or git URL> {{IMAGE_NAME}} <application image>

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
