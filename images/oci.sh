#!/usr/bin/env bash
# `make images`: safesquid/proxy and safesquid/operator from .images/rootfs (`make image-rootfs`) and
# images/<image>/Containerfile, built with umoci (no daemon, no registry, no base image) and written as
#   .images/<image>/oci/                                  OCI image layout, tags VERSION and VERSION-REV
#   .images/<image>/safesquid-<image>-VERSION-REV.tar     docker-archive with both tags
#                                                         (docker load, podman load, ctr images import)
#   .images/<image>/sbom.cdx.json                         CycloneDX SBOM (from image-rootfs)
#   .images/<image>/sizes.txt                             compressed and uncompressed size
# Each COPY of the Containerfile becomes one layer (umoci insert), and USER, WORKDIR, ENV, ENTRYPOINT,
# CMD, STOPSIGNAL and LABEL become the image config (umoci config), as `podman build` would make them.
# IMAGES="proxy" builds only some; an image whose inputs did not change is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.images
ctx=$out/rootfs
read -r -a images <<<"${IMAGES:-proxy operator}"
say() { echo "images: $*"; }
# One build at a time in this tree (make test, a developer and a test's setup may all call it).
mkdir -p .images
exec 9>.images/.lock
flock -w 900 9 || { echo "$0: another image build held .images/.lock for 15 min" >&2; exit 1; }
die() { echo "images: $*" >&2; exit 1; }

for tool in umoci skopeo jq node git; do
  command -v "$tool" >/dev/null || die "$tool is needed (\`make system-deps\` installs umoci and skopeo)"
done
[[ -f $ctx/.inputs ]] || die "$ctx is missing: run \`make image-rootfs\` first"
revision=$(git rev-parse HEAD)
short=$(git rev-parse --short=7 HEAD)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

for img in "${images[@]}"; do
  [[ -f images/$img/Containerfile ]] || die "no images/$img/Containerfile (IMAGES names proxy and/or operator)"
  version=$(jq -r .version "$img/package.json")
  tag=$version-$short
  dir=$out/$img
  spec=$(node images/containerfile.mjs "images/$img/Containerfile" --build-arg "VERSION=$version" --build-arg "REVISION=$revision")
  inputs=$(printf '%s\n' "$(cat "$ctx/.inputs")" "$spec" "$tag" "$created" "$(sha256sum images/oci.sh)" | sha256sum | cut -c1-64)
  archive=$dir/safesquid-$img-$tag.tar
  if [[ -f $dir/.inputs && $(cat "$dir/.inputs") == "$inputs" && -f $archive && -z ${FORCE:-} ]]; then
    say "safesquid/$img:$tag up to date ($dir); FORCE=1 rebuilds"
    continue
  fi
  start=$SECONDS
  layout=$dir/oci
  rm -rf "$layout" "$dir"/safesquid-"$img"-*.tar "$dir/.inputs" "$dir/.chown"
  mkdir -p "$dir"
  umoci init --layout "$layout"
  umoci new --image "$layout:build"
  # One layer per COPY, as docker/podman build make them.
  while read -r copy; do
    src=$(jq -r .src <<<"$copy") dest=$(jq -r .dest <<<"$copy") chown=$(jq -r '.chown // empty' <<<"$copy")
    [[ -d $ctx/$src ]] || die "images/$img/Containerfile copies $src, which $ctx does not have (run \`make image-rootfs\`)"
    from=$ctx/${src%/}
    if [[ -n $chown ]]; then
      rm -rf "$dir/.chown"
      cp -a "$from" "$dir/.chown"
      chown -R "$chown" "$dir/.chown"
      from=$dir/.chown
    fi
    umoci insert --image "$layout:build" --history.created "$created" \
      --history.created_by "COPY ${chown:+--chown=$chown }$src $dest" "$from" "$dest" >/dev/null
  done < <(jq -c '.copies[]' <<<"$spec")
  rm -rf "$dir/.chown"
  args=(--created "$created" --architecture amd64 --os linux --history.created "$created" --history.created_by "images/oci.sh: images/$img/Containerfile")
  while read -r -d '' a; do args+=("$a"); done < <(jq -j '.config |
      (if .user then "--config.user\u0000\(.user)\u0000" else "" end),
      (if .workdir then "--config.workingdir\u0000\(.workdir)\u0000" else "" end),
      (if .stopsignal then "--config.stopsignal\u0000\(.stopsignal)\u0000" else "" end),
      ((.env // [])[] | "--config.env\u0000\(.)\u0000"),
      ((.entrypoint // [])[] | "--config.entrypoint\u0000\(.)\u0000"),
      ((.cmd // [])[] | "--config.cmd\u0000\(.)\u0000"),
      ((.labels // {}) | to_entries[] | "--config.label\u0000\(.key)=\(.value)\u0000")' <<<"$spec")
  umoci config --image "$layout:build" "${args[@]}"
  umoci tag --image "$layout:build" "$version"
  umoci tag --image "$layout:build" "$tag"
  umoci rm --image "$layout:build"
  umoci gc --layout "$layout"
  skopeo copy --quiet --additional-tag "safesquid/$img:$version" "oci:$layout:$tag" "docker-archive:$archive:safesquid/$img:$tag"

  manifest=$layout/blobs/sha256/$(jq -r --arg t "$tag" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$layout/index.json" | cut -d: -f2)
  compressed=$(jq '[.config.size] + [.layers[].size] | add' "$manifest")
  uncompressed=0
  for layer in $(jq -r '.layers[].digest | sub("sha256:"; "")' "$manifest"); do
    uncompressed=$((uncompressed + $(gzip -dc "$layout/blobs/sha256/$layer" | wc -c)))
  done
  mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
  {
    echo "safesquid/$img:$tag ($version, $revision)"
    echo "compressed (what a registry stores and a node pulls): $compressed bytes, $(mib "$compressed")"
    echo "uncompressed (layers unpacked):                       $uncompressed bytes, $(mib "$uncompressed")"
    echo "docker-archive: $(stat -c %s "$archive") bytes"
  } > "$dir/sizes.txt"
  echo "$inputs" > "$dir/.inputs"
  say "safesquid/$img:$tag in $((SECONDS - start)) s: $(mib "$compressed") compressed, $(mib "$uncompressed") uncompressed -> $archive"
done
