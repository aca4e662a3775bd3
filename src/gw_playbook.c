/* gw_playbook: playbook lookups. */
#include "gw_playbook.h"

#include <math.h>
#include <string.h>

const gw_playbook_t *gw_playbook_for_team(const gw_playbook_t *books, int n, const char *tenant,
                                          const char *team)
{
    const gw_playbook_t *best = NULL;
    int best_rank = 0;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < books[i].nteams; t++) {
            int r = gw_team_match(books[i].teams[t], tenant, team);
            if (r > best_rank) {
                best_rank = r;
                best = &books[i];
            }
        }
    return best;
}

double gw_playbook_target(const gw_playbook_t *pb, const char *tenant, const char *rep, int w)
{
    for (int i = 0; i < pb->noverrides; i++) {
        const gw_override_t *o = &pb->overrides[i];
        if (!strcmp(o->rep, rep) && (!o->tenant || !strcmp(o->tenant, tenant)) &&
            !isnan(o->target[w]))
            return o->target[w];
    }
    return pb->target[w];
}

double gw_playbook_ramp(const gw_playbook_t *pb, int64_t weeks)
{
    if (weeks < 0)
        weeks = 0;
    if (weeks >= pb->nramp)
        return 1.0;
    return pb->ramp[weeks];
}

int gw_playbook_stage_of(const gw_playbook_t *pb, int kind)
{
    for (int s = 0; s < pb->nstages; s++)
        for (int k = 0; k < pb->stages[s].nkinds; k++)
            if (pb->stages[s].kinds[k] == kind)
                return s;
    return -1;
}
