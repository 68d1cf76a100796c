// An uncaught C++ exception: std::terminate aborts from inside libstdc++.
#include <stdexcept>
#include <string>

void load_segment(int id) {
  if (id > 2) throw std::runtime_error("segment " + std::to_string(id) + " is corrupt");
}

int main() {
  for (int i = 0; i < 5; i++) load_segment(i);
  return 0;
}
