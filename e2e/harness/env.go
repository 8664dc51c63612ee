package harness

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvOr is the environment variable key, or def when it is unset or empty.
func EnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// EnvInts reads a comma-separated list of counts from key, or returns def.
func EnvInts(b testing.TB, key string, def ...int) []int {
	b.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			b.Fatalf("%s=%q: want comma-separated counts, such as 200,1000", key, v)
		}
		out = append(out, n)
	}
	return out
}

// EnvInt reads a count from key, or returns def.
func EnvInt(b testing.TB, key string, def int) int {
	b.Helper()
	if v := os.Getenv(key); v != "" {
		return EnvInts(b, key)[0]
	}
	return def
}

// EnvDuration reads a Go duration from key, or returns def.
func EnvDuration(b testing.TB, key string, def time.Duration) time.Duration {
	b.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive Go duration, such as 20s", key, v)
	}
	return d
}
