// Command imagepack packs files into a one-layer image, written as an OCI image
// layout in a tar archive (an "OCI archive"): containerd imports it (`ctr -n k8s.io
// images import`), and the usual tools push it (`skopeo copy oci-archive:FILE
// docker://REF`, `podman load`, `docker load` from Docker 25). No registry, no daemon.
//
//	imagepack -tag confighash.dev/testapp:HASH -out testapp.tar -entrypoint /testapp /testapp=/path/to/binary
//
// Each argument is DEST=SOURCE: a file (kept executable), or a directory copied
// whole below DEST, symbolic links included. -entrypoint is split on spaces.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type settings struct {
	tag, out, entrypoint, cmd, workdir, user string
	env                                      []string
}

type envFlag []string

func (e *envFlag) String() string     { return strings.Join(*e, ",") }
func (e *envFlag) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	var s settings
	var env envFlag
	flag.StringVar(&s.tag, "tag", "", "image reference, e.g. confighash.dev/testapp:1")
	flag.StringVar(&s.out, "out", "", "tarball to write")
	flag.StringVar(&s.entrypoint, "entrypoint", "", "the entrypoint and its arguments, space-separated, e.g. /testapp")
	flag.StringVar(&s.cmd, "cmd", "", "the default arguments, space-separated, e.g. run")
	flag.StringVar(&s.workdir, "workdir", "", "the working directory")
	flag.StringVar(&s.user, "user", "", "the user, e.g. 65532:65532")
	flag.Var(&env, "env", "NAME=VALUE for the image's environment (repeatable)")
	flag.Parse()
	s.env = append([]string{"PATH=/"}, env...)
	if s.tag == "" || s.out == "" || s.entrypoint == "" || flag.NArg() == 0 {
		log.Fatal("usage: imagepack -tag REF -out FILE -entrypoint 'PATH ARGS' [-cmd 'ARGS'] [-workdir DIR] [-user U] [-env N=V] DEST=SOURCE...")
	}
	if err := pack(s, flag.Args()); err != nil {
		log.Fatal(err)
	}
}

func pack(s settings, files []string) error {
	layer, err := layerOf(files)
	if err != nil {
		return err
	}
	// OCI media types throughout (empty.Image starts with Docker's).
	image, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
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
	config.Config = v1.Config{Entrypoint: strings.Fields(s.entrypoint), Cmd: strings.Fields(s.cmd), Env: s.env, WorkingDir: s.workdir, User: s.user}
	image, err = mutate.ConfigFile(image, config)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(s.tag)
	if err != nil {
		return err
	}
	return writeArchive(s.out, ref, image)
}

// writeArchive writes image as the one image of an OCI layout, tarred into out. Its
// names: the full reference for containerd, the tag as the OCI layout names images.
func writeArchive(out string, ref name.Tag, image v1.Image) error {
	dir, err := os.MkdirTemp("", "imagepack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	index, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	names := map[string]string{"io.containerd.image.name": ref.Name(), "org.opencontainers.image.ref.name": ref.TagStr()}
	if err := index.AppendImage(image, layout.WithAnnotations(names)); err != nil {
		return err
	}
	file, err := os.Create(out)
	if err != nil {
		return err
	}
	archive := tar.NewWriter(file)
	err = filepath.WalkDir(dir, func(p string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := archive.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = archive.Write(data)
		return err
	})
	if err == nil {
		err = archive.Close()
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	return err
}

// layerOf makes a layer holding each DEST=SOURCE.
func layerOf(files []string) (v1.Layer, error) {
	var buf bytes.Buffer
	archive := &layer{tar: tar.NewWriter(&buf), dirs: map[string]bool{}}
	for _, spec := range files {
		target, source, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not DEST=SOURCE", spec)
		}
		if err := archive.add(strings.TrimPrefix(target, "/"), source); err != nil {
			return nil, err
		}
	}
	if err := archive.tar.Close(); err != nil {
		return nil, err
	}
	content := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }, tarball.WithMediaType(types.OCILayer))
}

type layer struct {
	tar  *tar.Writer
	dirs map[string]bool
}

// add writes source (a file, or a directory with everything below it) at target.
func (l *layer) add(target, source string) error {
	info, err := os.Stat(source)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return l.file(target, source, 0o755)
	}
	return filepath.WalkDir(source, func(p string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(source, p)
		dest := path.Join(target, filepath.ToSlash(rel))
		switch {
		case entry.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return l.write(&tar.Header{Name: dest, Typeflag: tar.TypeSymlink, Linkname: link, Mode: 0o777}, nil)
		case entry.IsDir():
			return l.dir(dest)
		default:
			mode := fs.FileMode(0o644)
			if fi, err := entry.Info(); err == nil && fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
			return l.file(dest, p, mode)
		}
	})
}

func (l *layer) file(target, source string, mode fs.FileMode) error {
	data, err := os.ReadFile(source)
	if err != nil {
		return err
	}
	if err := l.dir(path.Dir(target)); err != nil {
		return err
	}
	return l.write(&tar.Header{Name: target, Mode: int64(mode), Size: int64(len(data)), Typeflag: tar.TypeReg}, data)
}

// dir writes the directory and its parents, once each.
func (l *layer) dir(target string) error {
	if target == "." || target == "" || l.dirs[target] {
		return nil
	}
	if err := l.dir(path.Dir(target)); err != nil {
		return err
	}
	l.dirs[target] = true
	return l.write(&tar.Header{Name: target + "/", Mode: 0o755, Typeflag: tar.TypeDir}, nil)
}

func (l *layer) write(header *tar.Header, data []byte) error {
	if err := l.tar.WriteHeader(header); err != nil {
		return err
	}
	_, err := l.tar.Write(data)
	return err
}
