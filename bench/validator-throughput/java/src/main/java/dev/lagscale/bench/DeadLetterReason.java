package dev.lagscale.bench;

/** Why a message gets a dead-letter row instead of a result: a code for programs, a reason for people (the worker's codes). */
record DeadLetterReason(String code, String reason) {}
