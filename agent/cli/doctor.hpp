// `modelwarden doctor`: what this kernel offers and which mechanism serves each job.
#pragma once

#include <iosfwd>

namespace mw {
int run_doctor(std::ostream& out);
}
