// Command imagebuild builds etcdmedic's container image without a container
// daemon or a base image: static binaries per platform (etcdmedic, and etcd's
// own etcd and etcdutl at go.mod's pin, cached), a from-scratch layer
// with CA certificates and a non-root user, a multi-arch OCI index, written
// as an OCI layout, an OCI archive of that layout, and one `docker load`
// tarball per platform. scripts/build-image.sh runs it.
//
// It is a module of its own so the main module neither depends on
// go-containerregistry nor builds or tests it in `go test ./...`.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.repoRoot, "repo", "../..", "etcdmedic repository root (where go.mod is)")
	flag.StringVar(&o.out, "out", "dist/image", "output directory (replaced)")
	flag.StringVar(&o.version, "version", "dev", "version stamped into the binary and the image labels")
	flag.StringVar(&o.commit, "commit", "", "commit stamped into the binary and the revision label")
	flag.StringVar(&o.source, "source", "https://github.com/etcdmedic/etcdmedic", "org.opencontainers.image.source")
	flag.StringVar(&o.caFile, "ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to ship (Debian's ca-certificates)")
	flag.StringVar(&o.tag, "tag", "ghcr.io/etcdmedic/etcdmedic", "repository named in the docker tarballs, tagged with -version")
	platforms := flag.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	epoch := flag.Int64("source-date-epoch", envEpoch(), "creation time (seconds since 1970) for reproducible output")
	flag.Parse()
	o.platforms = strings.Split(*platforms, ",")
	o.created = time.Unix(*epoch, 0).UTC()

	res, err := build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
	fmt.Printf("oci layout  %s\noci archive %s\n", res.layout, res.archive)
	for _, p := range o.platforms {
		fmt.Printf("docker tar  %s (%s)\n", res.dockerTars[p], p)
	}
	fmt.Printf("index       %s\n", res.indexDigest)
}

func envEpoch() int64 {
	var n int64
	if _, err := fmt.Sscan(os.Getenv("SOURCE_DATE_EPOCH"), &n); err == nil {
		return n
	}
	return 0
}
