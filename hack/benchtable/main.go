// Command benchtable prints the rows Faultline's benchmarks appended to a
// file (see internal/benchtable) as one Markdown table, in the order they
// were measured.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtable FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	fmt.Println("| measurement | Faultline | raw / peer | ratio | goal |")
	fmt.Println("|---|---|---|---|---|")
	sc := bufio.NewScanner(f)
	rows := 0
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "\t")
		if len(cells) != 5 {
			continue
		}
		fmt.Printf("| %s |\n", strings.Join(cells, " | "))
		rows++
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if rows == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no rows; did the benchmarks run?")
		os.Exit(1)
	}
}
