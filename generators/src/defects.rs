//! Named defects, each tied to the rule ids of the checker it must trigger.
