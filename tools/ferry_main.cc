// Thin main: everything lives in the cli library.
#include "cli/verbs.h"

int main(int argc, char** argv) { return ferry::cli::Main(argc, argv); }
