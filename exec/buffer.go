package exec

import (
	"context"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// BufferSink collects every batch it is given. Its Batches (after Finalize)
// feed a BatchSource. Use it to materialize an intermediate result.
type BufferSink struct {
	mu      sync.Mutex
	batches []arrow.RecordBatch
	q       *QueryContext
	bytes   int64
}

// NewBufferSink returns an empty buffer accounted to q's memory pool.
func NewBufferSink(q *QueryContext) *BufferSink { return &BufferSink{q: q} }

type bufferLocal struct{ s *BufferSink }

// Local implements Sink.
func (s *BufferSink) Local(ctx context.Context) (SinkLocal, error) { return bufferLocal{s}, nil }

// Consume implements SinkLocal.
func (l bufferLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	in.Retain()
	l.s.mu.Lock()
	l.s.batches = append(l.s.batches, in)
	l.s.mu.Unlock()
	return nil
}

// Combine implements SinkLocal.
func (l bufferLocal) Combine(ctx context.Context) error { return nil }

// Finalize implements Sink.
func (s *BufferSink) Finalize(ctx context.Context) error { return nil }

// Close implements Sink: releases the buffered batches.
func (s *BufferSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.batches {
		b.Release()
	}
	s.batches = nil
}

// Batches returns the collected batches (still owned by the sink).
func (s *BufferSink) Batches() []arrow.RecordBatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// BatchSource hands out a list of batches, one per Next, to any number of
// drivers, in list order. It does not own the batches unless Owned is set.
type BatchSource struct {
	mu      sync.Mutex
	next    int
	batches func() []arrow.RecordBatch
	list    []arrow.RecordBatch
	loaded  bool
	Owned   bool
}

// NewBatchSource serves the batches that fn returns when first read (so it
// can be wired before the producing sink has finalized).
func NewBatchSource(fn func() []arrow.RecordBatch) *BatchSource {
	return &BatchSource{batches: fn}
}

type batchSourceLocal struct{ s *BatchSource }

// Local implements Source.
func (s *BatchSource) Local(ctx context.Context) (SourceLocal, error) {
	return batchSourceLocal{s}, nil
}

// Close implements Source.
func (s *BatchSource) Close() {
	if s.Owned {
		s.mu.Lock()
		for _, b := range s.list {
			b.Release()
		}
		s.list = nil
		s.mu.Unlock()
	}
}

func (l batchSourceLocal) Next(ctx context.Context) (arrow.RecordBatch, error) {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		s.list = s.batches()
		s.loaded = true
	}
	if s.next >= len(s.list) {
		return nil, io.EOF
	}
	b := s.list[s.next]
	s.next++
	b.Retain()
	return b, nil
}

func (l batchSourceLocal) Idle() bool { return true }
func (l batchSourceLocal) Close()     {}
