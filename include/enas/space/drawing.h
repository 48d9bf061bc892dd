#pragma once
/// What the picture of an architecture holds: boxes and arrows, grouped and in order, as each
/// space's descriptor lays it out (Space::drawing). report/draw.h renders any drawing as Graphviz
/// DOT, so a new space draws itself without a case in the report room. Statements keep the order
/// they were added in: a reader of the DOT text (or a test) follows them line by line.
#include <string>
#include <utility>
#include <vector>

namespace enas {

struct Drawing {
  /// How a box or an arrow looks: the role of a box (an input, an inner node, the output, a note
  /// on the way such as a reduction), the kind of an arrow (plain; faint, to the output; a skip,
  /// dashed and not constraining the layout).
  enum class Look { kInput, kInner, kOutput, kNote, kPlain, kFaint, kSkip };

  struct Mark {
    bool arrow = false;
    std::string from;   // a box's id, or an arrow's tail
    std::string to;     // an arrow's head
    std::string label;  // "\n" breaks a line
    Look look = Look::kPlain;
  };

  /// Marks drawn together; a group with a title is framed (a DOT cluster), one without is not.
  struct Group {
    std::string id, title;
    std::vector<Mark> marks;
  };

  std::string title;
  bool left_to_right = true;  // false: top to bottom
  std::vector<Group> groups;

  /// Starts a group (title empty: unframed); later boxes and arrows go into it.
  void group(std::string id, std::string group_title = "") {
    groups.push_back({std::move(id), std::move(group_title), {}});
  }
  void box(std::string id, std::string label, Look look) {
    current().marks.push_back({false, std::move(id), "", std::move(label), look});
  }
  void arrow(std::string from, std::string to, std::string label = "", Look look = Look::kPlain) {
    current().marks.push_back({true, std::move(from), std::move(to), std::move(label), look});
  }

 private:
  Group& current() {
    if (groups.empty()) group("");
    return groups.back();
  }
};

}  // namespace enas
