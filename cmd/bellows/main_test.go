package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/internal/testcerts"
	"github.com/bellows-db/bellows/tpch"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary builds the bellows command once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bellows-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "bellows")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Stderr = os.Stderr
		binErr = build.Run()
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

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
		if err := runScript(ctx, newEmbedded(db), script, format, &out, false); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if out.String() != want {
			t.Errorf("%s output:\n%s\nwant:\n%s", format, out.String(), want)
		}
	}
	db.Exec(ctx, "DROP TABLE IF EXISTS t")
	var out bytes.Buffer
	if err := runScript(ctx, newEmbedded(db), script, "table", &out, false); err != nil {
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
	bin := buildBinary(t)
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

// TestServeAndConnect runs "bellows serve" as a separate process and the
// 22 TPC-H queries through "bellows sql --connect" (another process): the
// output must equal the embedded run's. SIGTERM then stops the server
// cleanly.
func TestServeAndConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	if err := tpch.Generate(context.Background(), tpch.GenOptions{SF: 0.01, OutDir: data}); err != nil {
		t.Fatal(err)
	}
	file := tpchScript(t)
	embedded, err := exec.Command(bin, "sql", "--tables", data, "--format", "csv", "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("embedded: %v\n%s", err, embedded)
	}

	srv := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--tables", data)
	logs, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	sc := bufio.NewScanner(logs)
	addrRe := regexp.MustCompile(`msg="serving Flight SQL" addr=(\S+)`)
	var addr string
	var logText strings.Builder
	for sc.Scan() {
		logText.WriteString(sc.Text() + "\n")
		if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		t.Fatalf("no address in the server log:\n%s", logText.String())
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()
	remote, err := exec.Command(bin, "sql", "--connect", addr, "--format", "csv", "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("remote: %v\n%s", err, remote)
	}
	if string(remote) != string(embedded) {
		el, rl := strings.Split(string(embedded), "\n"), strings.Split(string(remote), "\n")
		for i := 0; i < len(el) && i < len(rl); i++ {
			if el[i] != rl[i] {
				t.Fatalf("line %d differs: embedded %q, remote %q", i+1, el[i], rl[i])
			}
		}
		t.Fatalf("embedded %d lines, remote %d", len(el), len(rl))
	}
	if n := strings.Count(string(embedded), "\n"); n < 22 {
		t.Fatalf("only %d lines of output", n)
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		tail := <-rest
		if err != nil {
			t.Fatalf("server exit after SIGTERM: %v\n%s", err, tail)
		}
		if !strings.Contains(tail, "msg=stopped") {
			t.Fatalf("no clean stop in the log:\n%s", tail)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop within 15 s of SIGTERM")
	}
}

// TestServeStreamsLargeResults streams a 10-million-row result from a
// "bellows serve" process: the first batch must arrive long before the
// last (the server does not build the result before sending it), and the
// server's peak RSS must not grow with the result: it is compared with a
// fresh server's peak for a 1-million-row result of the same table.
func TestServeStreamsLargeResults(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and streams 10 million rows")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	const rows = 10_000_000
	resultBytes := writeBigTable(t, filepath.Join(data, "big.parquet"), rows)
	stream := func(q string, want int64) (first, total time.Duration, peak int64) {
		srv, addr := startServe(t, bin, "--tables", data, "--parallelism", "2")
		defer func() { srv.Process.Kill(); srv.Wait() }()
		c, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		t0 := time.Now()
		info, err := c.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			t.Fatal(err)
		}
		defer rdr.Release()
		n := int64(0)
		for rdr.Next() {
			if n == 0 {
				first = time.Since(t0)
			}
			n += rdr.RecordBatch().NumRows()
		}
		if err := rdr.Err(); err != nil {
			t.Fatal(err)
		}
		total = time.Since(t0)
		if n != want {
			t.Fatalf("%s: %d rows, want %d", q, n, want)
		}
		return first, total, peakRSS(t, srv.Process.Pid)
	}
	_, _, small := stream("SELECT i, s FROM big WHERE i < 1000000", 1_000_000)
	first, total, peak := stream("SELECT i, s FROM big", rows)
	t.Logf("%d rows (%d MB as Arrow) in %s (%.0f MB/s), first batch after %s; server peak RSS %d MB (%d MB for 1M rows)",
		rows, resultBytes>>20, total.Round(time.Millisecond), float64(resultBytes)/(1<<20)/total.Seconds(), first.Round(time.Millisecond), peak>>20, small>>20)
	if first > total/10 {
		t.Errorf("first batch after %s of %s: the result is not streamed", first, total)
	}
	if peak > small*3/2+(32<<20) {
		t.Errorf("server peak RSS %d MB for 10M rows against %d MB for 1M: it grows with the result", peak>>20, small>>20)
	}
}

// writeBigTable writes rows rows of (i bigint, s text) to path and returns
// the result's size in Arrow buffers.
func writeBigTable(t *testing.T, path string, rows int) int64 {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(1<<17), parquet.WithDictionaryDefault(false)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	var size int64
	const chunk = 1 << 16
	for start := 0; start < rows; start += chunk {
		b := array.NewRecordBuilder(mem, schema)
		ib, sb := b.Field(0).(*array.Int64Builder), b.Field(1).(*array.StringBuilder)
		for i := start; i < min(start+chunk, rows); i++ {
			ib.Append(int64(i))
			s := fmt.Sprintf("row %09d with some padding", i)
			sb.Append(s)
			size += 8 + 4 + int64(len(s))
		}
		rec := b.NewRecordBatch()
		if err := w.WriteBuffered(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		b.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return size
}

// peakRSS reads a process's peak resident set size (Linux).
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read peak RSS from: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// startServe starts "bellows serve" on a free loopback port with args and
// returns the process and its address; the process is killed at the end
// of the test.
func startServe(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	srv := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	// GOGC=100: peak RSS then follows the live heap, not the collector's
	// slack (the default GOGC=400 of TuneGC multiplies it).
	srv.Env = append(os.Environ(), "GOGC=100")
	logs, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill() })
	sc := bufio.NewScanner(logs)
	addrRe := regexp.MustCompile(`msg="serving Flight SQL" addr=(\S+)`)
	var seen strings.Builder
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return srv, m[1]
		}
	}
	t.Fatalf("no address in the server log:\n%s", seen.String())
	return nil, ""
}

// freeAddr returns a loopback address with a free TCP and UDP port (for
// gossip, which uses both).
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		u.Close()
		return addr
	}
	t.Fatal("no free port")
	return ""
}

// startNode starts a cluster node process and waits for its ready line.
func startNode(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	p := exec.Command(bin, args...)
	logs, err := p.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Process.Kill(); p.Wait() })
	sc := bufio.NewScanner(logs)
	var seen strings.Builder
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "ready") {
			go func() {
				for sc.Scan() {
				}
			}()
			return p
		}
	}
	t.Fatalf("%s did not start:\n%s", args[0], seen.String())
	return nil
}

// TestClusterProcesses starts a coordinator and 3 workers as separate
// processes on loopback, with a cluster token and TLS between all nodes
// (and to the client): the 22 TPC-H queries at SF 0.1 through "bellows
// sql --connect" give the embedded engine's output; EXPLAIN (DISTRIBUTED)
// shows hash and broadcast exchanges; a worker with another token is
// refused, and a plaintext client is not served.
func TestClusterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	if err := tpch.Generate(context.Background(), tpch.GenOptions{SF: 0.1, OutDir: data}); err != nil {
		t.Fatal(err)
	}
	const token = "test-cluster-token"
	certs, err := testcerts.Write(t.TempDir(), "cluster")
	if err != nil {
		t.Fatal(err)
	}
	tlsFlags := []string{"--tls-cert", certs.Cert, "--tls-key", certs.Key, "--tls-ca", certs.CA}
	caddr, cgossip := freeAddr(t), freeAddr(t)
	startNode(t, bin, append([]string{"coordinator", "--addr", caddr, "--gossip", cgossip, "--token", token, "--tables", data}, tlsFlags...)...)
	for range 3 {
		startNode(t, bin, append([]string{"worker", "--addr", freeAddr(t), "--gossip", freeAddr(t), "--join", cgossip, "--token", token}, tlsFlags...)...)
	}
	sqlOut := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"sql", "--connect", caddr, "--tls-ca", certs.CA, "--format", "csv"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("sql %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for sqlOut("-c", "SHOW workers") != "workers\n3\n" {
		if time.Now().After(deadline) {
			t.Fatalf("the coordinator sees %q", sqlOut("-c", "SHOW workers"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every node announces its role, address, cores, memory and GPUs.
	recs, err := csv.NewReader(strings.NewReader(sqlOut("-c", "SHOW nodes"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, rec := range recs[1:] { // name, role, addr, cores, memory_bytes, gpus
		roles[rec[1]]++
		if rec[2] == "" || rec[3] == "0" || rec[4] == "0" || rec[5] == "" {
			t.Errorf("SHOW nodes: %v lacks its address, cores or memory", rec)
		}
	}
	if roles["coordinator"] != 1 || roles["worker"] != 3 {
		t.Fatalf("SHOW nodes lists %v", recs)
	}
	file := tpchScript(t)
	embedded, err := exec.Command(bin, "sql", "--tables", data, "--format", "csv", "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("embedded: %v\n%s", err, embedded)
	}
	remote := sqlOut("-f", file)
	if remote != string(embedded) {
		el, rl := strings.Split(string(embedded), "\n"), strings.Split(remote, "\n")
		for i := 0; i < len(el) && i < len(rl); i++ {
			if el[i] != rl[i] {
				t.Fatalf("line %d differs: embedded %q, cluster %q", i+1, el[i], rl[i])
			}
		}
		t.Fatalf("embedded %d lines, cluster %d", len(el), len(rl))
	}
	q3, _ := tpch.Query(3)
	plan := sqlOut("-c", "EXPLAIN (DISTRIBUTED) "+q3)
	for _, want := range []string{"Exchange hash from stage", "Exchange broadcast from stage", "output hash ["} {
		if !strings.Contains(plan, want) {
			t.Errorf("EXPLAIN (DISTRIBUTED) Q3 lacks %q:\n%s", want, plan)
		}
	}
	bad := exec.Command(bin, "worker", "--addr", freeAddr(t), "--gossip", freeAddr(t), "--join", cgossip, "--token", "another-token")
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cluster token") {
		t.Fatalf("a worker with another token: %v\n%s", err, out)
	}
	if got := sqlOut("-c", "SHOW workers"); got != "workers\n3\n" {
		t.Fatalf("after the refused worker the coordinator sees %q", got)
	}
	if out, err := exec.Command(bin, "sql", "--connect", caddr, "--format", "csv", "-c", "SELECT 1").CombinedOutput(); err == nil {
		t.Fatalf("a plaintext client of the TLS coordinator got an answer:\n%s", out)
	}
}

// TestClusterWorkerKilled kills a worker (SIGKILL) in the middle of Q1, Q9
// and Q18 on a coordinator with 3 worker processes: each query still
// returns the embedded engine's answer. Tasks wait 300 ms before running
// (BELLOWS_TEST_TASK_DELAY), so every query lasts long enough; the test
// checks that the kill came before the answer and that the coordinator
// recovered: in Q1 it kills the worker of the replayable scan stage's
// task, and only that task runs again; in Q9 and Q18 (whose lost tasks
// are not replayable) the query is restarted, or a task re-run.
func TestClusterWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts cluster processes")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	if err := tpch.Generate(context.Background(), tpch.GenOptions{SF: 0.1, OutDir: data}); err != nil {
		t.Fatal(err)
	}
	caddr, cgossip := freeAddr(t), freeAddr(t)
	startNode(t, bin, "coordinator", "--addr", caddr, "--gossip", cgossip, "--tables", data)
	os.Setenv("BELLOWS_TEST_TASK_DELAY", "300ms")
	defer os.Unsetenv("BELLOWS_TEST_TASK_DELAY")
	workers := map[string]*exec.Cmd{} // by gRPC address
	addWorker := func() {
		addr := freeAddr(t)
		workers[addr] = startNode(t, bin, "worker", "--addr", addr, "--gossip", freeAddr(t), "--join", cgossip)
	}
	sqlOut := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"sql", "--connect", caddr, "--format", "csv"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("sql %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	waitWorkers := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for sqlOut("-c", "SHOW workers") != fmt.Sprintf("workers\n%d\n", n) {
			if time.Now().After(deadline) {
				t.Fatalf("the coordinator sees %q, want %d workers", sqlOut("-c", "SHOW workers"), n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for range 3 {
		addWorker()
	}
	waitWorkers(3)
	// placement polls SHOW queries for the running query's task
	// placement: per stage, the workers of its tasks.
	placement := func() [][]string {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			recs, err := csv.NewReader(strings.NewReader(sqlOut("-c", "SHOW queries"))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range recs[1:] { // query_id, elapsed_ms, tasks, placement, splits, query
				if len(rec) != 6 || rec[3] == "" {
					continue
				}
				var out [][]string
				for _, st := range strings.Split(rec[3], ",") {
					_, ws, _ := strings.Cut(st, ":")
					out = append(out, strings.Split(ws, "|"))
				}
				return out
			}
		}
		t.Fatal("the running query never showed up in SHOW queries")
		return nil
	}
	for _, n := range []int{1, 9, 18} {
		q, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		want, err := exec.Command(bin, "sql", "--tables", data, "--format", "csv", "-c", q).CombinedOutput()
		if err != nil {
			t.Fatalf("embedded q%d: %v\n%s", n, err, want)
		}
		retries := sqlOut("-c", "SHOW distributed_retries")
		taskRetries := sqlOut("-c", "SHOW distributed_task_retries")
		var out bytes.Buffer
		run := exec.Command(bin, "sql", "--connect", caddr, "--format", "csv", "-c", q)
		run.Stdout, run.Stderr = &out, &out
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		var victim *exec.Cmd
		if n == 1 {
			// Q1's scan stage (scan and partial aggregate) is replayable:
			// kill the worker of its task, which runs nothing else, and
			// only that task must run again.
			place := placement()
			addr := place[0][0]
			for st := 1; st < len(place); st++ {
				if slices.Contains(place[st], addr) {
					t.Fatalf("q1: the scan task's worker also runs stage %d: %v", st, place)
				}
			}
			victim = workers[addr]
			delete(workers, addr)
		} else {
			place := placement()           // as soon as the tasks are placed (they wait 300 ms)
			addr := place[len(place)-1][0] // the worker of the last stage: in the query till the end
			victim = workers[addr]
			delete(workers, addr)
		}
		if err := victim.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		victim.Wait()
		err = run.Wait()
		answered := time.Now()
		if err != nil {
			t.Fatalf("q%d after a worker was killed: %v\n%s", n, err, out.String())
		}
		if out.String() != string(want) {
			t.Fatalf("q%d after a worker was killed:\n%s\nwant:\n%s", n, out.String(), want)
		}
		if !answered.After(killed) {
			t.Fatalf("q%d answered before the kill", n)
		}
		restarted := sqlOut("-c", "SHOW distributed_retries") != retries
		rerun := sqlOut("-c", "SHOW distributed_task_retries") != taskRetries
		switch {
		case n == 1 && (!rerun || restarted):
			t.Fatalf("q1: task re-run %v, query restarted %v: want only the lost task re-run", rerun, restarted)
		case !rerun && !restarted:
			t.Fatalf("q%d: no task re-run and no restart recorded: the killed worker was not in the query", n)
		}
		t.Logf("q%d: worker killed, answered %s later (task re-run %v, query restarted %v)", n, answered.Sub(killed).Round(time.Millisecond), rerun, restarted)
		addWorker()
		waitWorkers(3)
	}
}

// tpchScript writes the 22 TPC-H queries to a file, after SET parallelism
// = 1 (the same float summation order in every run), and returns its path.
func tpchScript(t *testing.T) string {
	t.Helper()
	var script strings.Builder
	script.WriteString("SET parallelism = 1;\n")
	for n := 1; n <= 22; n++ {
		q, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		script.WriteString(strings.TrimRight(strings.TrimSpace(q), ";") + ";\n")
	}
	file := filepath.Join(t.TempDir(), "tpch.sql")
	if err := os.WriteFile(file, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
