// Package sample is the package `unigo test` runs in the end-to-end tests
// (tests/unigotest_test.go): passing tests, tests that read testdata, and
// tests that fail on purpose, selected with -run.
package sample

// Greeting is what the tests check.
func Greeting() string { return "hello, unikernel" }
