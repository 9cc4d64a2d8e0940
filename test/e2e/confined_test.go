package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"portcullis/internal/sandbox"
)

// Every controller the e2e tests start runs confined: started as root, it
// switches to the portcullis account (or nobody where there is none) once
// its sockets and files are open. What it still reads then, its --config
// for SIGHUP reloads, must be readable by that account, as on a real host
// (the Debian package installs /etc/portcullis/portcullis.yaml root:portcullis
// 0640). shareWithController gives the test's config file to that account
// and makes the temporary directories above it searchable.
func shareWithController(t testing.TB, argv []string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for i, a := range argv {
		if a == "--no-sandbox" {
			return
		}
		if a != "--config" || i+1 >= len(argv) {
			continue
		}
		uid, gid, _, _, err := sandbox.ResolveUser(flagValue(argv, "--user"))
		if err != nil {
			t.Fatalf("the account the controller runs as: %v", err)
		}
		path, _ := filepath.Abs(argv[i+1])
		if err := os.Chown(path, uid, gid); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		tmp := filepath.Clean(os.TempDir())
		for dir := filepath.Dir(path); strings.HasPrefix(dir, tmp+"/"); dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
				os.Chmod(dir, fi.Mode().Perm()|0o011)
			}
		}
	}
}

// flagValue returns the last value of flag in argv ("" if absent).
func flagValue(argv []string, flag string) string {
	v := ""
	for i, a := range argv {
		if a == flag && i+1 < len(argv) {
			v = argv[i+1]
		} else if strings.HasPrefix(a, flag+"=") {
			v = strings.TrimPrefix(a, flag+"=")
		}
	}
	return v
}
