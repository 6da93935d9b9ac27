package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bellows-db/bellows"
)

func TestScriptFormats(t *testing.T) {
	db, err := bellows.Open(bellows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	script := `SET parallelism = 2;
CREATE TABLE t (d date, n numeric(10,2), s text, i int);
INSERT INTO t VALUES (DATE '2024-02-29', 1.5, 'a,"b"', NULL), (NULL, NULL, NULL, 7);
SELECT * FROM t ORDER BY i NULLS FIRST;`
	cases := map[string]string{
		"csv": "d,n,s,i\n2024-02-29,1.50,\"a,\"\"b\"\"\",\n,,,7\n",
		"json": `{"d":"2024-02-29","n":1.50,"s":"a,\"b\"","i":null}` + "\n" +
			`{"d":null,"n":null,"s":null,"i":7}` + "\n",
	}
	for format, want := range cases {
		db.Exec(ctx, "DROP TABLE IF EXISTS t")
		var out bytes.Buffer
		if err := runScript(ctx, db, script, format, &out, false); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if out.String() != want {
			t.Errorf("%s output:\n%s\nwant:\n%s", format, out.String(), want)
		}
	}
	db.Exec(ctx, "DROP TABLE IF EXISTS t")
	var out bytes.Buffer
	if err := runScript(ctx, db, script, "table", &out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"d          | n    | s     | i", "2024-02-29 | 1.50 | a,\"b\" | NULL", "(2 rows)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestExitStatus runs the real binary: an error must give a non-zero exit
// status and the message on stderr.
func TestExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "bellows")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "sql", "--format", "csv", "-c", "SELECT 1 AS x; SELECT nosuch FROM (SELECT 1) s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		t.Fatal("exit status 0 for a failing statement")
	}
	if !strings.Contains(stderr.String(), `column "nosuch" does not exist`) || !strings.Contains(stderr.String(), "line 1, column") {
		t.Fatalf("stderr = %q", stderr.String())
	}
	if stdout.String() != "x\n1\n" {
		t.Fatalf("stdout = %q", stdout.String())
	}
}
