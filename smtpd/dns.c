/* placeholder: being written */
#include "config.h"
extern int ispmaild_placeholder_dns;
