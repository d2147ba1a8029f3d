#pragma once
// The fhir-gateway command line: one executable, one subcommand per job.
#include <iosfwd>
#include <string>
#include <vector>

namespace hoa::gateway {

// Runs the command line; returns the process exit code. Output goes to `out`,
// diagnostics to `err`, and "-" as a file name reads `in`.
int runCli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
           std::ostream& err);

}  // namespace hoa::gateway
