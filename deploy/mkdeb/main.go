// Command mkdeb builds the Debian package of Portcullis (`make deb`): the
// binary, the systemd unit with its hardening, the production
// configuration as a conffile, the state and log directories, and the
// maintainer scripts that create the portcullis system account. It is a
// build tool of its own so that the packager (nfpm) stays out of the
// controller's binary.
//
//	go run ./deploy/mkdeb -bin bin/portcullis -version 0.1.0 -out bin/
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// The package's paths. The unit in deploy/ is written for a manual install
// under /usr/local; the package installs the binary where Debian wants it
// and the unit is rewritten to match.
const (
	binDest  = "/usr/bin/portcullis"
	unitDest = "/lib/systemd/system/portcullis.service"
	confDest = "/etc/portcullis/portcullis.yaml"
	docDir   = "/usr/share/doc/portcullis"
)

func main() {
	var (
		bin     = flag.String("bin", "bin/portcullis", "the portcullis binary to package (build it with CGO_ENABLED=0)")
		root    = flag.String("root", ".", "the repository root (deploy/, docs/, README.md)")
		version = flag.String("version", "0.0.0", "package version")
		arch    = flag.String("arch", runtime.GOARCH, "Debian architecture")
		out     = flag.String("out", "bin", "output directory (or .deb file name)")
	)
	flag.Parse()
	path, err := build(*bin, *root, *version, *arch, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

func build(bin, root, version, arch, out string) (string, error) {
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "portcullis.service"))
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	u := strings.ReplaceAll(string(unit), "/usr/local/bin/portcullis", binDest)
	u = strings.ReplaceAll(u, "file:///usr/local/share/doc/portcullis/", "file://"+docDir+"/")
	unitPath := filepath.Join(tmp, "portcullis.service")
	if err := os.WriteFile(unitPath, []byte(u), 0o644); err != nil {
		return "", err
	}
	deb := filepath.Join(root, "deploy", "debian")
	mtime := time.Now().UTC().Truncate(time.Second)
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: mtime}}
	}
	dir := func(dst string, mode os.FileMode) *files.Content {
		return &files.Content{Destination: dst, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: mtime}}
	}
	conf := file(filepath.Join(root, "deploy", "portcullis.yaml"), confDest, 0o640)
	conf.Type = files.TypeConfig // a dpkg conffile: local edits survive upgrades
	info := &nfpm.Info{
		Name:        "portcullis",
		Arch:        arch,
		Platform:    "linux",
		Version:     version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  "Portcullis developers <portcullis@localhost>",
		Description: "OpenFlow 1.3 controller that blocks port scanners in Open vSwitch\nPortcullis detects port scans, host sweeps, OS fingerprinting and floods\nfrom packet-ins and drops the scanner with flows in the switch. It runs\nconfined: an unprivileged account, no capabilities, Landlock and seccomp.",
		License:     "see /usr/share/doc/portcullis",
		MTime:       mtime,
		Overridables: nfpm.Overridables{
			Depends:    []string{"passwd"},
			Recommends: []string{"openvswitch-switch"},
			Contents: files.Contents{
				file(bin, binDest, 0o755),
				file(unitPath, unitDest, 0o644),
				dir("/etc/portcullis", 0o750),
				conf,
				dir("/var/lib/portcullis", 0o700),
				dir("/var/log/portcullis", 0o750),
				file(filepath.Join(root, "docs", "deploy.md"), docDir+"/deploy.md", 0o644),
				file(filepath.Join(root, "docs", "config.example.yaml"), docDir+"/config.example.yaml", 0o644),
				file(filepath.Join(root, "README.md"), docDir+"/README.md", 0o644),
			},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(deb, "postinst"),
				PreRemove:   filepath.Join(deb, "prerm"),
				PostRemove:  filepath.Join(deb, "postrm"),
			},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	pkgr, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	name := out
	if !strings.HasSuffix(out, ".deb") {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return "", err
		}
		name = filepath.Join(out, pkgr.ConventionalFileName(info))
	}
	f, err := os.Create(name)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	return name, f.Close()
}
