// CLI entry point.
#pragma once

namespace ferry::cli {

// Parses argv, runs the chosen verb and returns the process exit code.
int Main(int argc, char** argv);

}  // namespace ferry::cli
