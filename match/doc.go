// Package match decides which device a selector means. It is filled in by
// the selector work; for now it only reserves the name.
package match
