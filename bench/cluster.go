package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/bellows-db/bellows/bench/internal/harness"
)

// runCluster times the 22 TPC-H queries on a coordinator with 1, 2, 4...
// worker processes (real processes on this machine, Flight between them)
// against "bellows serve" (the single-node engine behind the same Flight
// SQL front end), all through the Flight SQL client.
func runCluster(args []string) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	sf := fs.String("sf", "1", "TPC-H scale factor")
	runs := fs.Int("runs", 3, "timed runs per query and configuration (after one warm-up run)")
	workersFlag := fs.String("workers", "1,2,4", "worker process counts to measure")
	queries := fs.String("queries", "", "queries to run, e.g. 1,6 or 1-5 (default all 22)")
	data := fs.String("data", "", "directory with <table>.parquet (default $TMPDIR/bellows-tpch-sf<SF>; generated if missing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	sfv, err := harness.NormalizeSF(*sf)
	if err != nil {
		return err
	}
	qs, err := harness.ParseQueryList(*queries)
	if err != nil {
		return err
	}
	wd, _ := os.Getwd()
	repo, err := harness.FindRepoRoot(wd)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bellows-cluster-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bellows")
	fmt.Fprintf(os.Stderr, "building %s/cmd/bellows ...\n", repo)
	if err := harness.BuildBellows(ctx, repo, bin); err != nil {
		return err
	}
	dataDir := *data
	if dataDir == "" {
		dataDir = harness.DefaultDataDir(sfv)
	}
	if _, err := harness.EnsureData(ctx, func() (string, error) { return bin, nil }, sfv, harness.GeneratorKey(repo), dataDir, false); err != nil {
		return err
	}
	texts := map[int]string{}
	for _, q := range qs {
		if texts[q], err = harness.ReadQuery(repo, q); err != nil {
			return err
		}
	}
	type config struct {
		name    string
		workers int // 0: single node (serve)
	}
	configs := []config{{"single", 0}}
	for _, w := range strings.Split(*workersFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 {
			return fmt.Errorf("--workers: %q is not a count", w)
		}
		configs = append(configs, config{fmt.Sprintf("%dw", n), n})
	}
	medians := map[string]map[int]float64{}
	for _, c := range configs {
		addr, stop, err := startBenchCluster(bin, dataDir, c.workers)
		if err != nil {
			return err
		}
		medians[c.name] = map[int]float64{}
		client, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			stop()
			return err
		}
		for _, q := range qs {
			var times []float64
			for r := 0; r <= *runs; r++ {
				t0 := time.Now()
				if err := runFlightQuery(ctx, client, texts[q]); err != nil {
					client.Close()
					stop()
					return fmt.Errorf("%s q%02d: %w", c.name, q, err)
				}
				if r > 0 {
					times = append(times, time.Since(t0).Seconds())
				}
			}
			sort.Float64s(times)
			medians[c.name][q] = times[len(times)/2]
			fmt.Fprintf(os.Stderr, "%s q%02d %.3fs\n", c.name, q, medians[c.name][q])
		}
		client.Close()
		stop()
	}
	fmt.Printf("TPC-H SF %s through Flight SQL, median of %d runs: single node (bellows serve) and a coordinator with N worker processes\n", sfv, *runs)
	fmt.Printf("%-6s", "query")
	for _, c := range configs {
		fmt.Printf(" %9s", c.name)
	}
	for _, c := range configs[1:] {
		fmt.Printf(" %8s", c.name+"/1")
	}
	fmt.Println()
	sums := map[string]float64{}
	for _, q := range qs {
		fmt.Printf("q%02d   ", q)
		for _, c := range configs {
			fmt.Printf(" %9.3f", medians[c.name][q])
			sums[c.name] += medians[c.name][q]
		}
		for _, c := range configs[1:] {
			fmt.Printf(" %8.2f", medians[c.name][q]/medians["single"][q])
		}
		fmt.Println()
	}
	fmt.Printf("sum   ")
	for _, c := range configs {
		fmt.Printf(" %9.3f", sums[c.name])
	}
	for _, c := range configs[1:] {
		fmt.Printf(" %8.2f", sums[c.name]/sums["single"])
	}
	fmt.Println()
	return nil
}

// runFlightQuery runs q and reads its whole result.
func runFlightQuery(ctx context.Context, c *flightsql.Client, q string) error {
	info, err := c.Execute(ctx, q)
	if err != nil {
		return err
	}
	for _, ep := range info.Endpoint {
		rdr, err := c.DoGet(ctx, ep.Ticket)
		if err != nil {
			return err
		}
		for rdr.Next() {
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// startBenchCluster starts "bellows serve" (workers == 0) or a
// coordinator and that many worker processes; it returns the Flight SQL
// address and a stop function.
func startBenchCluster(bin, data string, workers int) (string, func(), error) {
	var procs []*exec.Cmd
	stop := func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}
	start := func(ready *regexp.Regexp, args ...string) (string, error) {
		p := exec.Command(bin, args...)
		logs, err := p.StderrPipe()
		if err != nil {
			return "", err
		}
		if err := p.Start(); err != nil {
			return "", err
		}
		procs = append(procs, p)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if m := ready.FindStringSubmatch(sc.Text()); m != nil {
				go func() {
					for sc.Scan() {
					}
				}()
				return m[1], nil
			}
		}
		return "", fmt.Errorf("%s did not start", args[0])
	}
	if workers == 0 {
		addr, err := start(regexp.MustCompile(`msg="serving Flight SQL" addr=(\S+)`), "serve", "--addr", "127.0.0.1:0", "--tables", data)
		if err != nil {
			stop()
			return "", nil, err
		}
		return addr, stop, nil
	}
	gossip, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr, err := start(regexp.MustCompile(`msg="coordinator ready" addr=(\S+)`), "coordinator", "--addr", "127.0.0.1:0", "--gossip", gossip, "--tables", data)
	if err != nil {
		stop()
		return "", nil, err
	}
	for range workers {
		g, err := freePort()
		if err != nil {
			stop()
			return "", nil, err
		}
		if _, err := start(regexp.MustCompile(`msg="worker ready" addr=(\S+)`), "worker", "--addr", "127.0.0.1:0", "--gossip", g, "--join", gossip); err != nil {
			stop()
			return "", nil, err
		}
	}
	// Wait for the coordinator to see every worker.
	c, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		stop()
		return "", nil, err
	}
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := showWorkers(c)
		if err == nil && n == workers {
			return addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("the coordinator sees %d of %d workers (%v)", n, workers, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func showWorkers(c *flightsql.Client) (int, error) {
	ctx := context.Background()
	info, err := c.Execute(ctx, "SHOW workers")
	if err != nil {
		return 0, err
	}
	rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		return 0, err
	}
	defer rdr.Release()
	if !rdr.Next() {
		return 0, rdr.Err()
	}
	return strconv.Atoi(rdr.RecordBatch().Column(0).ValueStr(0))
}

func freePort() (string, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		l.Close()
		if u, err := net.ListenPacket("udp", addr); err == nil {
			u.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free port")
}
