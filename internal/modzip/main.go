// Command modzip writes this module at a version into a file-based module
// proxy, as the Go module mirror would serve it, so that CI can check that
// `go install github.com/hostdev/hostdev/cmd/...@VERSION` works for users:
// the zip is made by golang.org/x/mod/zip, which refuses what the mirror
// refuses (a ':' in a path, a file too large, a path that differs only in
// case).
//
//	go run ./internal/modzip -dir DIR -version v0.0.0-ci
//	GOPROXY=file://DIR,https://proxy.golang.org GOSUMDB=off go install github.com/hostdev/hostdev/cmd/hostdev-discover@v0.0.0-ci
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

const path = "github.com/hostdev/hostdev"

func main() {
	dir := flag.String("dir", "", "the proxy folder to write")
	version := flag.String("version", "v0.0.0-ci", "the version to write")
	repo := flag.String("repo", ".", "the module's git checkout")
	flag.Parse()
	if err := run(*dir, *repo, *version); err != nil {
		fmt.Fprintln(os.Stderr, "modzip:", err)
		os.Exit(1)
	}
}

func run(dir, repo, version string) error {
	if dir == "" {
		return fmt.Errorf("-dir is required")
	}
	m := module.Version{Path: path, Version: version}
	at := filepath.Join(dir, path, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		return err
	}
	// The files git tracks at HEAD, as a release would have them.
	if err := zip.CreateFromVCS(f, m, repo, "HEAD", ""); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	mod, err := os.ReadFile(filepath.Join(repo, "go.mod"))
	if err != nil {
		return err
	}
	info := fmt.Sprintf(`{"Version":%q,"Time":%q}`, version, time.Now().UTC().Format(time.RFC3339))
	for name, data := range map[string][]byte{version + ".mod": mod, version + ".info": []byte(info), "list": []byte(version + "\n")} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
