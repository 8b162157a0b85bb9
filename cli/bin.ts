#!/usr/bin/env node
// The package's `chainrule` binary: always runs the command line. (cli/main.ts runs itself only when it is
// the script node started, which a package manager's link in node_modules/.bin can hide; this file never asks.)
import { runProcess } from './main.js';

await runProcess();
