// Command bellows is the Bellows engine's one binary: an interactive SQL
// shell, a script runner, the TPC-H generator and a demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/chzyer/readline"
	"github.com/spf13/cobra"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/sql"
	"github.com/bellows-db/bellows/tpch"
)

func main() {
	bellows.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	var dataDir string
	root := &cobra.Command{
		Use:           "bellows",
		Short:         "Bellows: a distributed SQL and compute engine (embedded shell when run alone)",
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataDir == "" {
				home, _ := os.UserHomeDir()
				dataDir = filepath.Join(home, ".bellows")
			}
			db, err := bellows.Open(bellows.Options{DataDir: dataDir, Allocator: bellows.PooledAllocator()})
			if err != nil {
				return err
			}
			defer db.Close()
			return shell(cmd.Context(), newEmbedded(db), "table")
		},
	}
	root.Flags().StringVar(&dataDir, "data-dir", "", "data directory (default ~/.bellows)")
	root.AddCommand(sqlCmd(), serveCmd(), coordinatorCmd(), workerCmd(), tpchCmd(), demoCmd(), sltCmd())
	return root
}

func sqlCmd() *cobra.Command {
	var tables, dataDir, format, command, file, cpuProfile string
	var ro remoteOptions
	c := &cobra.Command{
		Use:   "sql",
		Short: "run SQL statements non-interactively (or a shell without -c/-f), embedded or on a server (--connect)",
		RunE: func(cmd *cobra.Command, args []string) error {
			var cn conn
			if ro.addr != "" {
				if tables != "" || dataDir != "" {
					return fmt.Errorf("--tables and --data-dir are the server's business with --connect")
				}
				if ro.user != "" && ro.password == "" {
					ro.password = os.Getenv("BELLOWS_PASSWORD")
				}
				r, err := dialRemote(cmd.Context(), ro)
				if err != nil {
					return err
				}
				defer r.Close()
				cn = r
			} else {
				db, err := bellows.Open(bellows.Options{DataDir: dataDir, Allocator: bellows.PooledAllocator()})
				if err != nil {
					return err
				}
				defer db.Close()
				if tables != "" {
					if err := db.RegisterDir(tables); err != nil {
						return err
					}
				}
				cn = newEmbedded(db)
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			var text string
			switch {
			case command != "":
				text = command
			case file != "":
				raw, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				text = string(raw)
			default:
				return shell(cmd.Context(), cn, format)
			}
			return runScript(cmd.Context(), cn, text, format, os.Stdout, false)
		},
	}
	c.Flags().StringVar(&tables, "tables", "", "folder whose NAME.parquet files and NAME/ folders become tables")
	c.Flags().StringVar(&dataDir, "data-dir", "", "data directory for managed tables (default: temporary)")
	c.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	c.Flags().StringVarP(&command, "command", "c", "", "SQL to run")
	c.Flags().StringVarP(&file, "file", "f", "", "file of SQL statements to run")
	c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the run to this file")
	c.Flags().StringVar(&ro.addr, "connect", "", "HOST:PORT of a Bellows (Flight SQL) server to run the SQL on")
	c.Flags().StringVar(&ro.user, "user", "", "user name for --connect (password: --password or $BELLOWS_PASSWORD)")
	c.Flags().StringVar(&ro.password, "password", "", "password for --user")
	c.Flags().StringVar(&ro.token, "token", "", "bearer token for --connect")
	c.Flags().BoolVar(&ro.tls, "tls", false, "connect with TLS (trusting the system's CAs)")
	c.Flags().StringVar(&ro.tlsCA, "tls-ca", "", "connect with TLS, trusting the CA certificate(s) in this PEM file")
	return c
}

// runScript runs each statement, printing the results of those that return
// rows (in csv/json, statements without rows print nothing).
func runScript(ctx context.Context, db conn, text, format string, out io.Writer, timing bool) error {
	stmts, err := sql.Parse(text)
	if err != nil {
		return err
	}
	for _, p := range stmts {
		t0 := time.Now()
		rows, err := db.Query(ctx, p.Text)
		if err != nil {
			return err
		}
		if rows.Schema().NumFields() > 0 {
			pr, err := newPrinter(format, out)
			if err != nil {
				rows.Release()
				return err
			}
			pr.header(rows.Schema())
			for rows.Next() {
				pr.batch(rows.RecordBatch())
			}
			if err := rows.Err(); err != nil {
				rows.Release()
				return err
			}
			if err := pr.end(); err != nil {
				rows.Release()
				return err
			}
		} else if format == "table" {
			for rows.Next() {
			}
			if err := rows.Err(); err != nil {
				rows.Release()
				return err
			}
			fmt.Fprintln(out, "OK")
		}
		rows.Release()
		if timing {
			fmt.Fprintf(out, "Time: %.3f ms\n", float64(time.Since(t0).Microseconds())/1000)
		}
	}
	return nil
}

// shell is the interactive loop: multi-line statements end with ';'.
func shell(ctx context.Context, db conn, format string) error {
	home, _ := os.UserHomeDir()
	rl, err := readline.NewEx(&readline.Config{
		Prompt:      "bellows> ",
		HistoryFile: filepath.Join(home, ".bellows_history"),
	})
	if err != nil {
		return err
	}
	defer rl.Close()
	fmt.Fprintln(rl.Stdout(), "Bellows shell. End statements with ';'. \\d lists tables, \\d NAME describes one, \\q quits.")
	var buf strings.Builder
	for {
		if buf.Len() == 0 {
			rl.SetPrompt("bellows> ")
		} else {
			rl.SetPrompt("     ..> ")
		}
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			buf.Reset()
			continue
		}
		if err != nil {
			return nil
		}
		trimmed := strings.TrimSpace(line)
		if buf.Len() == 0 && strings.HasPrefix(trimmed, "\\") {
			if trimmed == "\\q" {
				return nil
			}
			if err := meta(ctx, db, trimmed, rl.Stdout()); err != nil {
				fmt.Fprintln(rl.Stdout(), "ERROR:", err)
			}
			continue
		}
		buf.WriteString(line)
		buf.WriteString("\n")
		if !strings.HasSuffix(trimmed, ";") {
			continue
		}
		text := buf.String()
		buf.Reset()
		qctx, cancel := context.WithCancel(ctx)
		if err := runScript(qctx, db, text, format, rl.Stdout(), true); err != nil {
			fmt.Fprintln(rl.Stdout(), "ERROR:", err)
		}
		cancel()
	}
}

// meta runs backslash commands.
func meta(ctx context.Context, db conn, cmd string, out io.Writer) error {
	f := strings.Fields(cmd)
	switch f[0] {
	case "\\d":
		if len(f) == 1 {
			ts, err := db.Tables(ctx)
			if err != nil {
				return err
			}
			for _, t := range ts {
				fmt.Fprintln(out, t)
			}
			return nil
		}
		cols, err := db.Describe(ctx, f[1])
		if err != nil {
			return err
		}
		for _, c := range cols {
			fmt.Fprintln(out, c)
		}
		return nil
	case "\\timing":
		return nil
	}
	return fmt.Errorf("unknown command %s (\\d, \\d NAME, \\q)", f[0])
}

func tpchCmd() *cobra.Command {
	c := &cobra.Command{Use: "tpch", Short: "TPC-H data generation"}
	var sf float64
	var out string
	var rg int
	gen := &cobra.Command{
		Use:   "gen",
		Short: "write the 8 TPC-H tables as Parquet files",
		RunE: func(cmd *cobra.Command, args []string) error {
			if sf <= 0 {
				return fmt.Errorf("--sf must be > 0")
			}
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			return tpch.Generate(cmd.Context(), tpch.GenOptions{SF: sf, OutDir: out, RowGroupRows: rg, Progress: os.Stderr})
		},
	}
	gen.Flags().Float64Var(&sf, "sf", 1, "scale factor (> 0)")
	gen.Flags().StringVar(&out, "out", "", "output folder")
	gen.Flags().IntVar(&rg, "row-group-rows", 0, "rows per Parquet row group (default 122880)")
	c.AddCommand(gen)
	return c
}
