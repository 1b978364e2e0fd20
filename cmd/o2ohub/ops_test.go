package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestCommandsDoNotCreateDatabases runs every command that reads the database against a SQLite path
// that does not exist (as from another directory): each refuses, naming the database, and leaves no
// file behind; and against an existing but empty file, which it refuses too. migrate creates it.
func TestCommandsDoNotCreateDatabases(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "stock.csv")
	os.WriteFile(csv, []byte("sku,name,price_fen\nX-1,x,100\n"), 0o600)
	cmds := [][]string{
		{"simulate", "sandbox", "--order", "123"},
		{"simulate", "wechatpay", "--order", "123"},
		{"simulate", "alipay", "--order", "123"},
		{"simulate", "meituan", "--store", "S01", "--sku", "MILK-1L"},
		{"simulate", "eleme", "--store", "S01", "--sku", "MILK-1L"},
		{"simulate", "jddj", "--store", "S01", "--sku", "MILK-1L"},
		{"staff", "set", "clerk-s01", "--role", "clerk", "--store", "S01"},
		{"import", csv},
		{"qr", "labels", "--store", "S01"},
	}
	for _, file := range []string{"missing.db", "empty.db"} {
		path := filepath.Join(dir, file)
		if file == "empty.db" {
			os.WriteFile(path, nil, 0o600)
		}
		env := map[string]string{"O2OHUB_DB": "sqlite:" + path, "O2OHUB_STAFF_PASSWORD": "a-long-password"}
		for _, args := range cmds {
			err := run(context.Background(), args, io.Discard, io.Discard, func(k string) string { return env[k] })
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: o2ohub %s: %v, want an error naming %s", file, strings.Join(args, " "), err, path)
			}
			info, statErr := os.Stat(path)
			if file == "missing.db" && statErr == nil {
				t.Fatalf("o2ohub %s created %s", strings.Join(args, " "), path)
			}
			if file == "empty.db" && (statErr != nil || info.Size() != 0) {
				t.Fatalf("o2ohub %s wrote into the empty %s", strings.Join(args, " "), path)
			}
		}
	}
	path := filepath.Join(dir, "new.db")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, &out, io.Discard, func(k string) string {
		return map[string]string{"O2OHUB_DB": "sqlite:" + path}[k]
	}); err != nil || !strings.Contains(out.String(), path) {
		t.Fatalf("migrate: %v, %q", err, out.String())
	}
	env := map[string]string{"O2OHUB_DB": "sqlite:" + path, "O2OHUB_STAFF_PASSWORD": "a-long-password"}
	err := run(context.Background(), []string{"simulate", "sandbox", "--order", "123"}, io.Discard, io.Discard, func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), path) {
		t.Fatalf("simulate on a migrated database: %v, want order not found naming %s", err, path)
	}
}

// TestDatabaseNamesMaskPasswords checks that a PostgreSQL database is named in errors without its
// password.
func TestDatabaseNamesMaskPasswords(t *testing.T) {
	cfg := config.Config{DB: "postgres://app:hunter2@db:5432/o2o?sslmode=disable&password=hunter3"}
	name := dbName(cfg)
	if strings.Contains(name, "hunter2") || strings.Contains(name, "hunter3") || !strings.Contains(name, "db:5432/o2o") {
		t.Fatalf("dbName = %q", name)
	}
}

// TestConcurrentDemoSeedsPrintWorkingPasswords seeds the demo staff from several "replicas" at once on
// one fresh database: each account is printed exactly once, and every printed password signs in.
func TestConcurrentDemoSeedsPrintWorkingPasswords(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		cfg := config.Default()
		cfg.PasswordCost = 4
		log := newLogger(io.Discard, "error")
		if err := seedDemo(ctx, newService(db, cfg, log), io.Discard); err != nil { // stores, products; staff printed nowhere
			t.Fatal(err)
		}
		if err := db.Conn(ctx).Exec("DELETE FROM staff").Error; err != nil {
			t.Fatal(err)
		}
		const replicas = 6
		outs := make([]bytes.Buffer, replicas)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Go(func() {
				<-start
				if err := seedDemoStaff(ctx, newService(db, cfg, log), &outs[i]); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		line := regexp.MustCompile(`(?m)^  (\S+)\s+(\S+)  \(`)
		printed := map[string]int{}
		svc := newService(db, cfg, log)
		for i := range outs {
			for _, m := range line.FindAllStringSubmatch(outs[i].String(), -1) {
				printed[m[1]]++
				if _, err := svc.Staff.SignIn(ctx, m[1], m[2], staff.SessionConsole); err != nil {
					t.Errorf("replica %d printed %s / %s, which does not sign in: %v", i, m[1], m[2], err)
				}
			}
		}
		for _, u := range []string{"admin", "clerk-s01", "clerk-s02", "clerk-s03"} {
			if printed[u] != 1 {
				t.Errorf("%s printed %d times, want once", u, printed[u])
			}
		}
	})
}

// TestDemoPrintsPasswordsApartFromTheLogs starts the demo and checks the staff passwords are on stderr
// and not in the JSON log stream on stdout.
func TestDemoPrintsPasswordsApartFromTheLogs(t *testing.T) {
	var stdout, stderr syncBuffer
	startDemoHubTo(t, nil, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "passwords shown once") || !strings.Contains(stderr.String(), "clerk-s01") {
		t.Fatalf("stderr = %q, want the demo staff accounts", stderr.String())
	}
	if strings.Contains(stdout.String(), "DANGER") {
		t.Fatalf("warned on loopback:\n%s", stdout.String())
	}
	if strings.Contains(stdout.String(), "passwords shown once") {
		t.Fatalf("the passwords are in the log stream:\n%s", stdout.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if !strings.HasPrefix(l, "{") {
			t.Fatalf("stdout has a line that is not a JSON log line: %q", l)
		}
	}
}

// TestSandboxOnEveryInterfaceWarns starts the demo listening on every interface with the sandbox on:
// it starts (it was asked for explicitly) and logs the danger. (Only one demo runs at a time in a test
// process: the WeChat SDK's hooks are process-wide. TestDemoPrintsPasswordsApartFromTheLogs checks the
// loopback default does not warn.)
func TestSandboxOnEveryInterfaceWarns(t *testing.T) {
	var stdout, stderr syncBuffer
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	startDemoHubTo(t, map[string]string{"O2OHUB_ADDR": ":" + port, "O2OHUB_PUBLIC_URL": "http://" + addr}, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "DANGER: the sandbox listens beyond loopback") {
		t.Fatalf("no warning in the log:\n%s", stdout.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the demo's goroutines to write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
