// Package exec runs physical pipelines over Arrow record batches.
//
// Every operator is split into a global part (shared by all drivers of a
// pipeline, built once) and a local part (one per driver, made by Local).
// The number of drivers running a pipeline is a scheduling decision that can
// change at any batch boundary: sources hand out splits from a shared queue,
// sinks merge a leaving driver's local state in Combine and produce their
// result once in Finalize. That split is what makes parallelism elastic.
//
// Ownership: a batch returned by Next or Process belongs to the caller, who
// releases it. Process and Consume borrow their input: they Retain what they
// keep.
//
// Cancellation: drivers check the context between batches; operators that
// loop for long over in-memory state check it too. Errors stop the query.
package exec

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
)

// Source produces the batches a pipeline consumes. The global Source is
// shared; Local makes one reader per driver. Local and Close may be called
// concurrently with readers running.
type Source interface {
	Local(ctx context.Context) (SourceLocal, error)
	// Close releases what the source holds. Called once, after all locals
	// are closed.
	Close()
}

// SourceLocal is one driver's reader.
type SourceLocal interface {
	// Next returns the next batch, or (nil, io.EOF) once the shared queue is
	// drained for this driver.
	Next(ctx context.Context) (arrow.RecordBatch, error)
	// Idle reports that the reader holds no partly read split, so its driver
	// may leave without losing rows.
	Idle() bool
	Close()
}

// Operator is a streaming transform (filter, project, join probe).
type Operator interface {
	Local(ctx context.Context) (OperatorLocal, error)
	Close()
}

// OperatorLocal is one driver's instance of an Operator.
type OperatorLocal interface {
	// Process transforms in (borrowed) into a new batch owned by the caller.
	// It may return nil for "no rows".
	Process(ctx context.Context, in arrow.RecordBatch) (arrow.RecordBatch, error)
	Close()
}

// Expander is implemented by operator locals whose one input batch can
// yield many output batches (a join that multiplies rows). After Process,
// the caller calls More, sending each batch down the pipeline before
// asking for the next, until More returns nil; only then comes the next
// Process. Close releases what an undrained Expander holds.
type Expander interface {
	More(ctx context.Context) (arrow.RecordBatch, error)
}

// Flusher is implemented by operators that emit rows after their whole
// input was seen (e.g. the unmatched build rows of a right/full join).
// Flush is called once, after every driver of the pipeline has finished.
type Flusher interface {
	Flush(ctx context.Context) ([]arrow.RecordBatch, error)
}

// StreamFlusher is a Flusher whose rows may not fit in memory at once. It
// sends them down the rest of the pipeline as it makes them, through
// chains that open returns; it may open several and use them from
// different goroutines (one goroutine per chain). Preferred over Flush.
// The pipeline finishes the chains after FlushTo returns.
type StreamFlusher interface {
	FlushTo(ctx context.Context, open func() (*FlushChain, error)) error
}

// Sink consumes a pipeline's output: the pipeline breakers (hash build,
// aggregation, sort) and the query result.
type Sink interface {
	Local(ctx context.Context) (SinkLocal, error)
	// Finalize runs once, single-threaded, after every local was combined.
	Finalize(ctx context.Context) error
	// Close frees the sink's state; called once at the end of the query,
	// also on error or cancellation.
	Close()
}

// SinkLocal is one driver's share of a Sink.
type SinkLocal interface {
	// Consume takes in (borrowed).
	Consume(ctx context.Context, in arrow.RecordBatch) error
	// Combine merges this driver's state into the global sink as the driver
	// leaves (because its input is drained or the parallelism shrank).
	Combine(ctx context.Context) error
}
