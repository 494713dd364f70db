package media

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The pacer drives the senders of all sessions from one goroutine per shard
// (one shard per CPU): N calls cost one timer wake-up every paceInterval
// instead of N every 20 ms. Profiles at a few hundred calls showed the
// per-session timers' wake-ups and goroutine switches as the largest
// user-space cost of the audio path.
const paceInterval = 5 * time.Millisecond

type pacerShard struct {
	mu       sync.Mutex
	sessions []*Session
	running  bool
	scratch  []*Session
}

var (
	pacers    = newPacers()
	pacerNext atomic.Uint32
)

func newPacers() []*pacerShard {
	n := max(1, runtime.GOMAXPROCS(0))
	out := make([]*pacerShard, n)
	for i := range out {
		out[i] = &pacerShard{}
	}
	return out
}

// pace adds s to a shard and returns it; the shard's goroutine runs while
// it has sessions.
func pace(s *Session) *pacerShard {
	sh := pacers[pacerNext.Add(1)%uint32(len(pacers))]
	sh.mu.Lock()
	sh.sessions = append(sh.sessions, s)
	if !sh.running {
		sh.running = true
		go sh.loop()
	}
	sh.mu.Unlock()
	return sh
}

func (sh *pacerShard) remove(s *Session) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for i, x := range sh.sessions {
		if x == s {
			last := len(sh.sessions) - 1
			sh.sessions[i] = sh.sessions[last]
			sh.sessions[last] = nil
			sh.sessions = sh.sessions[:last]
			return
		}
	}
}

func (sh *pacerShard) loop() {
	t := time.NewTicker(paceInterval)
	defer t.Stop()
	for range t.C {
		sh.mu.Lock()
		if len(sh.sessions) == 0 {
			sh.running = false
			sh.mu.Unlock()
			return
		}
		sh.scratch = append(sh.scratch[:0], sh.sessions...)
		sh.mu.Unlock()
		for _, s := range sh.scratch {
			s.paceTick()
		}
		clear(sh.scratch)
	}
}
