package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	chaosv1alpha1 "github.com/faultline-dev/faultline/api/v1alpha1"
)

// choices reads a fuzzer's bytes as a sequence of bounded choices; past
// the end every choice is 0.
type choices struct {
	b []byte
	i int
}

func (c *choices) pick(n int) int {
	if c.i >= len(c.b) || n <= 1 {
		return 0
	}
	v := int(c.b[c.i]) % n
	c.i++
	return v
}

// quarter is a choice of duration in quarter seconds below max.
func (c *choices) quarter(max time.Duration) time.Duration {
	return time.Duration(c.pick(int(max/(250*time.Millisecond)))) * 250 * time.Millisecond
}

// fuzzWorld builds a world from c: the fault, the spec's options, when each
// check is bad or unanswered, the kill switch, operator outages, targets
// that fail or conflict, and how long a revert takes.
func fuzzWorld(c *choices) world {
	var opts []option
	opts = append(opts, stabilization(int32(1+c.pick(4))))
	if c.pick(2) == 1 {
		opts = append(opts, guard(c.quarter(3*sec)))
	}
	if c.pick(2) == 1 {
		policy := []chaosv1alpha1.ProbeErrorPolicy{chaosv1alpha1.ProbeErrorAbort, chaosv1alpha1.ProbeErrorContinue}[c.pick(2)]
		opts = append(opts, onProbeError(policy, int32(1+c.pick(3))))
	}
	spec := podKill(opts...)
	if c.pick(2) == 1 {
		spec = istio(5*sec+c.quarter(15*sec), opts...)
	}
	w := world{spec: spec, dryRun: c.pick(8) == 0, script: script{}, targets: 1 + c.pick(3), revertTakes: c.quarter(2 * sec)}
	for _, name := range []string{"success-rate", "checkout-ready", "error-budget"} {
		var b behaviour
		for range c.pick(3) {
			from := c.quarter(20 * sec)
			b.bad = append(b.bad, during(inj(from), inj(from+250*time.Millisecond+c.quarter(10*sec))))
		}
		if c.pick(3) == 0 {
			from := c.quarter(20 * sec)
			b.errs = append(b.errs, during(inj(from), inj(from+250*time.Millisecond+c.quarter(10*sec))))
		}
		w.script[name] = b
	}
	if c.pick(3) == 0 {
		k := at(c.quarter(30 * sec))
		w.killSwitch = &k
	}
	for range c.pick(3) {
		from := c.quarter(30 * sec)
		w.outages = append(w.outages, during(at(from), at(from+250*time.Millisecond+c.quarter(10*sec))))
	}
	if c.pick(4) == 0 {
		w.failInject = []string{"checkout-a"}
	}
	if c.pick(4) == 0 {
		w.conflicts = []string{"checkout-b"}
	}
	w.watched = c.pick(2) == 1
	return w
}

// FuzzRunKeepsItsPromises drives runs through random worlds (checks failing
// and unanswered at random, guards, the kill switch, operator outages,
// targets that fail or conflict) and restarts the engine from its status,
// read back as the API server would return it, at random steps. Whatever
// happens, no target is injected twice, no target recorded in status is
// ever lost, no run completes while a target still carries the fault, and
// every run ends.
//
//	go test ./experiments/engine -run '^$' -fuzz FuzzRunKeepsItsPromises -fuzztime 10m
func FuzzRunKeepsItsPromises(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 1, 4, 1, 0, 1, 1, 2, 8, 12, 3, 0, 0, 1, 6, 9, 2, 0, 1, 20, 3, 0, 1})
	f.Add([]byte{0, 0, 0, 1, 1, 7, 1, 2, 2, 40, 8, 1, 1, 30, 10, 0, 2, 5, 5, 4, 12, 9, 0, 0, 1, 1, 1, 1, 3, 7})
	f.Add([]byte{3, 1, 11, 1, 1, 2, 1, 40, 2, 0, 4, 4, 60, 12, 2, 9, 9, 0, 0, 2, 33, 7, 0, 1, 0, 1, 1, 2, 2, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &choices{b: data}
		w := fuzzWorld(c)
		d := start(t, w)
		recorded := map[string]bool{}
		injections := map[string]int{}
		for {
			before := map[string]chaosv1alpha1.TargetPhase{}
			for _, tg := range d.run.Status.Targets {
				before[tg.Name] = tg.Phase
			}
			more := d.step()
			st := d.run.Status
			present := map[string]bool{}
			for _, tg := range st.Targets {
				present[tg.Name] = true
				if tg.Phase == chaosv1alpha1.TargetInjected && before[tg.Name] != chaosv1alpha1.TargetInjected {
					if injections[tg.Name]++; injections[tg.Name] > 1 {
						t.Fatalf("target %s injected a second time at %s (phase %s)", tg.Name, d.since(d.now), st.Phase)
					}
				}
			}
			for name := range recorded {
				if !present[name] {
					t.Fatalf("target %s, recorded in status, was lost at %s (phase %s)", name, d.since(d.now), st.Phase)
				}
			}
			for name := range present {
				recorded[name] = true
			}
			if st.Phase == chaosv1alpha1.PhaseCompleted {
				for _, tg := range st.Targets {
					if tg.Phase == chaosv1alpha1.TargetInjected {
						t.Fatalf("run completed (verdict %s) with target %s still injected", st.Verdict, tg.Name)
					}
				}
			}
			if !more {
				break
			}
			if c.pick(4) == 0 {
				// A restarted operator (or a new leader) knows only the
				// status it reads back from the API server.
				raw, err := json.Marshal(st)
				if err != nil {
					t.Fatal(err)
				}
				restored := &chaosv1alpha1.ExperimentRunStatus{}
				if err := json.Unmarshal(raw, restored); err != nil {
					t.Fatal(err)
				}
				d.attach(restored)
			}
		}
		d.finish()
	})
}
