package exec

import (
	"math/rand"
	"testing"
)

// TestExchangeTaskSpreadsTableBits checks that the rows a consumer task
// gets through a hash exchange still spread over every top-bit region of
// the task's own hash tables (which place keys by the top bits of the same
// hash): otherwise a task's aggregation or join table fills a few regions
// and probing degenerates (Q18 on one worker took over 25 s instead of 3).
func TestExchangeTaskSpreadsTableBits(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, tasks := range []int{2, 3, 8} {
		regions := make([]map[int]bool, tasks)
		for i := range regions {
			regions[i] = map[int]bool{}
		}
		counts := make([]int, tasks)
		for range 200_000 {
			h := rng.Uint64()
			k := ExchangeTask(h, tasks)
			counts[k]++
			regions[k][JoinPartition(h)] = true
		}
		for k := range tasks {
			if len(regions[k]) < JoinPartitions*9/10 {
				t.Errorf("%d tasks: task %d's keys fall in %d of %d table regions", tasks, k, len(regions[k]), JoinPartitions)
			}
			if share := float64(counts[k]) / 200_000; share < 0.8/float64(tasks) || share > 1.2/float64(tasks) {
				t.Errorf("%d tasks: task %d gets %.3f of the rows", tasks, k, share)
			}
		}
	}
}
