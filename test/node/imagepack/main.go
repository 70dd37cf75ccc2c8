// Command imagepack packs static binaries into a one-layer OCI image tarball that
// containerd imports (`ctr -n k8s.io images import`): no registry, no daemon.
//
//	imagepack -tag confighash.dev/testapp:HASH -out testapp.tar -entrypoint /testapp testapp=/path/to/binary
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	tag := flag.String("tag", "", "image reference, e.g. confighash.dev/testapp:1")
	out := flag.String("out", "", "tarball to write")
	entrypoint := flag.String("entrypoint", "", "the entrypoint, e.g. /testapp")
	flag.Parse()
	if *tag == "" || *out == "" || *entrypoint == "" || flag.NArg() == 0 {
		log.Fatal("usage: imagepack -tag REF -out FILE -entrypoint PATH NAME=BINARY...")
	}
	if err := pack(*tag, *out, *entrypoint, flag.Args()); err != nil {
		log.Fatal(err)
	}
}

func pack(tag, out, entrypoint string, files []string) error {
	layer, err := layerOf(files)
	if err != nil {
		return err
	}
	image, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	config, err := image.ConfigFile()
	if err != nil {
		return err
	}
	// containerd imports only images for its own platform.
	config = config.DeepCopy()
	config.OS, config.Architecture = "linux", runtime.GOARCH
	config.Config = v1.Config{Entrypoint: []string{entrypoint}, Env: []string{"PATH=/"}}
	image, err = mutate.ConfigFile(image, config)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, image)
}

// layerOf makes a layer holding each NAME=BINARY at /NAME, executable.
func layerOf(files []string) (v1.Layer, error) {
	var buf bytes.Buffer
	archive := tar.NewWriter(&buf)
	for _, spec := range files {
		target, source, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not NAME=BINARY", spec)
		}
		data, err := os.ReadFile(source)
		if err != nil {
			return nil, err
		}
		header := &tar.Header{Name: target, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}
		if err := archive.WriteHeader(header); err != nil {
			return nil, err
		}
		if _, err := archive.Write(data); err != nil {
			return nil, err
		}
	}
	if err := archive.Close(); err != nil {
		return nil, err
	}
	content := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil })
}
