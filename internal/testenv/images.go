package testenv

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
)

// recipes are the image recipes scripts/build-images.sh builds from.
//
//go:embed images
var recipes embed.FS

// officialImages reports whether the suites use the official images of a
// registry instead of the locally built ones.
func officialImages() bool { return os.Getenv("BOOKWORM_TEST_IMAGES") == "official" }

// recipeHash hashes the files of images/NAME the way
// scripts/build-images.sh does: each file's name and a newline, then its
// content, in byte order of the names.
func recipeHash(name string) (string, error) {
	dir := "images/" + name
	entries, err := fs.ReadDir(recipes, dir)
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(recipes, dir+"/"+n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n", n)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// localImage is the tag of the locally built image of recipe name.
func localImage(name string) (string, error) {
	hash, err := recipeHash(name)
	if err != nil {
		return "", err
	}
	return "localhost/bookworm-" + name + ":" + hash, nil
}

var buildMu sync.Mutex

// ensureImage builds the local image of recipe name when the engine does
// not have it, with scripts/build-images.sh (which serializes concurrent
// builds of several test binaries with a lock file).
func ensureImage(ctx context.Context, e *engine, name string) (string, error) {
	tag, err := localImage(name)
	if err != nil {
		return "", err
	}
	if _, err := e.client.ImageInspect(ctx, tag); err == nil {
		return tag, nil
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	logf("image %s is missing: building it with scripts/build-images.sh %s (a minute or two, once)", tag, name)
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "build-images.sh")
	cmd := exec.CommandContext(ctx, "bash", script, name)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building image %s: %w", tag, err)
	}
	return tag, nil
}
