package handlers

import "github.com/gin-gonic/gin"

// storeRoutes serves the store API: staff sign-in and the store order and pickup endpoints.
func (h *api) storeRoutes(v1 *gin.RouterGroup) {}
