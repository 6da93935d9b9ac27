package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bellows-db/bellows"
	"github.com/bellows-db/bellows/slt"
)

// sltCmd runs sqllogictest files on a fresh embedded engine each.
func sltCmd() *cobra.Command {
	var engine string
	var verbose bool
	var maxFailures int
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "slt [--engine postgresql] [-v] FILE...",
		Short: "run sqllogictest files (each on a fresh temporary database)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			opt := slt.Options{Engine: engine, Verbose: verbose, Out: out, Timeout: timeout}
			var total slt.Result
			for _, path := range args {
				res, err := slt.RunFile(cmd.Context(), path, slt.NewBellows(bellows.Options{}), opt)
				if err != nil {
					return err
				}
				if !verbose { // verbose mode printed them as they happened
					for i, f := range res.Failures {
						if maxFailures > 0 && i >= maxFailures {
							fmt.Fprintf(out, "%s: ... and %d more failures\n", path, len(res.Failures)-i)
							break
						}
						fmt.Fprintln(out, f)
					}
				}
				if len(args) > 1 {
					fmt.Fprintf(out, "%s: %s\n", path, summary(res))
				}
				total.Add(res)
			}
			fmt.Fprintln(out, summary(total))
			if total.Failed > 0 {
				os.Exit(1)
			}
			return nil
		},
	}
	c.Flags().StringVar(&engine, "engine", "postgresql", "engine name for skipif/onlyif")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "print every record's outcome")
	c.Flags().IntVar(&maxFailures, "max-failures", 50, "failures printed per file (0 = all)")
	c.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "time limit per record")
	return c
}

func summary(r slt.Result) string {
	s := fmt.Sprintf("%d passed, %d failed", r.Passed, r.Failed)
	if r.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", r.Skipped)
	}
	return s
}
