// Package pgcluster runs a private PostgreSQL cluster from the server binaries installed on the
// machine. It exists so that `tenantd dev` and the tests need nothing running beforehand: the
// cluster lives in a directory the caller owns, listens only on a Unix socket inside that
// directory, and is started as an unprivileged user when the caller is root (PostgreSQL refuses
// to run as root).
package pgcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoBinaries says that no PostgreSQL server binaries were found; its text tells the user what
// to install.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; install them, e.g. `apt-get install -y postgresql` on Debian or Ubuntu, or set DATABASE_URL to an existing server")

// Port is the port number in the socket file name. The cluster never listens on TCP, so the
// number only has to be unique within the socket directory, which is private to the cluster.
const Port = 5432

// Superuser is the bootstrap superuser created by initdb. It is used only to create roles and
// databases; the server never connects with it.
const Superuser = "postgres"

// debianRoot is where Debian's PostgreSQL packages put their versioned bin directories.
var debianRoot = "/usr/lib/postgresql"

// FindBinDir returns the directory holding initdb, pg_ctl and postgres.
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir = filepath.Dir(real)
		}
		if hasServer(dir) {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob(filepath.Join(debianRoot, "*", "bin"))
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	for _, dir := range matches {
		if hasServer(dir) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// Cluster is one private PostgreSQL cluster rooted at Dir.
type Cluster struct {
	Dir    string // root directory: pgdata/, run/ (socket), postgres.log
	BinDir string
	// Fast trades durability for speed (fsync off); for tests only.
	Fast bool

	cred *syscall.Credential
}

// New prepares (but does not start) a cluster rooted at dir.
func New(dir string, fast bool) (*Cluster, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: abs, BinDir: bin, Fast: fast}
	if os.Geteuid() == 0 {
		cred, err := unprivilegedCredential()
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}
	return c, nil
}

// unprivilegedCredential picks the account PostgreSQL runs as when we are root: the distribution's
// "postgres" account if present, else "nobody".
func unprivilegedCredential() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, but neither a postgres nor a nobody account exists to run PostgreSQL as")
}

// DataDir is the PostgreSQL data directory.
func (c *Cluster) DataDir() string { return filepath.Join(c.Dir, "pgdata") }

// SocketDir is the directory holding the server's Unix socket.
func (c *Cluster) SocketDir() string { return filepath.Join(c.Dir, "run") }

func (c *Cluster) logFile() string { return filepath.Join(c.Dir, "postgres.log") }

// ConnString returns a libpq-style URL for role on database over the private socket.
func (c *Cluster) ConnString(role, database string) string {
	return fmt.Sprintf("postgres:///%s?host=%s&port=%d&user=%s&sslmode=disable", database, c.SocketDir(), Port, role)
}

// Initialized reports whether the data directory already holds a cluster.
func (c *Cluster) Initialized() bool {
	_, err := os.Stat(filepath.Join(c.DataDir(), "PG_VERSION"))
	return err == nil
}

// Init creates the cluster if it does not exist yet.
func (c *Cluster) Init() error {
	if c.Initialized() {
		return c.ownDirs()
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{c.DataDir(), c.SocketDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := c.ownDirs(); err != nil {
		return err
	}
	args := []string{"-D", c.DataDir(), "-U", Superuser, "--auth=trust", "-E", "UTF8", "--no-locale"}
	if c.Fast {
		args = append(args, "--no-sync")
	}
	if out, err := c.run("initdb", args...); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	conf := "\n# tenantd: private cluster, Unix socket only\nlisten_addresses = ''\n" +
		fmt.Sprintf("unix_socket_directories = '%s'\nport = %d\n", c.SocketDir(), Port) +
		"max_connections = 200\nshared_buffers = 128MB\n"
	if c.Fast {
		conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
	}
	f, err := os.OpenFile(filepath.Join(c.DataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(conf)
	return err
}

// ownDirs hands the cluster's directories to the account PostgreSQL runs as.
func (c *Cluster) ownDirs() error {
	if c.cred == nil {
		return nil
	}
	for _, d := range []string{c.DataDir(), c.SocketDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		err := filepath.Walk(d, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(c.cred.Uid), int(c.cred.Gid))
		})
		if err != nil {
			return err
		}
	}
	lf := c.logFile()
	if _, err := os.Stat(lf); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(lf, nil, 0o644); err != nil {
			return err
		}
	}
	return os.Chown(lf, int(c.cred.Uid), int(c.cred.Gid))
}

// Running reports whether the cluster's postmaster is up.
func (c *Cluster) Running() bool {
	_, err := c.run("pg_ctl", "-D", c.DataDir(), "status")
	return err == nil
}

// Start starts the server and waits until it accepts connections. An already running cluster
// is left as it is.
func (c *Cluster) Start() error {
	if c.Running() {
		return nil
	}
	out, err := c.run("pg_ctl", "-D", c.DataDir(), "-l", c.logFile(), "-w", "-t", "60", "start")
	if err != nil {
		tail, _ := os.ReadFile(c.logFile())
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, tail)
	}
	return nil
}

// Stop shuts the server down, cancelling running queries.
func (c *Cluster) Stop() error {
	if !c.Running() {
		return nil
	}
	if out, err := c.run("pg_ctl", "-D", c.DataDir(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

func (c *Cluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.BinDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.Dir = "/"
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	} else {
		// Own process group: a Ctrl-C aimed at the caller must not kill the server before
		// the caller stops it cleanly.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return bytes.TrimSpace(buf.Bytes()), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		return buf.Bytes(), fmt.Errorf("%s %s: timed out", name, strings.Join(args, " "))
	}
}
